package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
)

// SyncResourceChannel creates or updates the channel an AlertChannel
// resource owns, keyed by c.ID (the resource's UID), as the operator
// reconciles it: the resource is the source of truth, so every field,
// the secret included, is overwritten. c is defaulted and validated by the
// caller. A row the REST API owns is never touched (its ids are random,
// so one with a resource's UID would be a forgery), and a deleted row
// stays deleted: a resource's UID is never reused.
func (s *Store) SyncResourceChannel(ctx context.Context, c *notify.Channel) (notify.ChannelView, error) {
	c.Source = notify.SourceKubernetes
	c.SetDefaults() // the arrays are NOT NULL
	now := s.nowMicros()
	err := s.pool.QueryRow(ctx, `INSERT INTO channels AS c (id, name, type, url, secret, email_to, selector_tags,
			selector_namespace, send_resolved, repeat_interval_ms, source, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, url = excluded.url,
			secret = excluded.secret, email_to = excluded.email_to, selector_tags = excluded.selector_tags,
			selector_namespace = excluded.selector_namespace, send_resolved = excluded.send_resolved,
			repeat_interval_ms = excluded.repeat_interval_ms, updated_at = excluded.updated_at
		WHERE c.source = $11 AND c.deleted_at IS NULL
		RETURNING c.created_at`,
		c.ID, c.Name, string(c.Type), c.URL, c.Secret, c.To, c.SelectorTags, c.SelectorNamespace,
		c.SendResolved, c.RepeatInterval.Milliseconds(), c.Source, now).Scan(&c.CreatedAt)
	switch {
	case isUniqueViolation(err, "channels_name_active"):
		return notify.ChannelView{}, registry.ErrNameTaken
	case errors.Is(err, pgx.ErrNoRows):
		return notify.ChannelView{}, fmt.Errorf("sync channel %s: it is deleted or not owned by a resource: %w", c.ID, registry.ErrNotFound)
	case err != nil:
		return notify.ChannelView{}, fmt.Errorf("sync channel: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), now
	return c.View(), nil
}
