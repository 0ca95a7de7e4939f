package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
)

// channelColumns is what scanChannel reads. The secret is read only where
// a delivery needs it (ChannelForSend, the claim); the API's reads see
// whether one is set, never its value.
const channelColumns = `c.id, c.name, c.type, c.url, c.email_to, c.selector_tags, c.send_resolved,
	c.repeat_interval_ms, c.source, c.created_at, c.updated_at, c.secret <> '', c.selector_namespace`

func scanChannel(row pgx.Row, extra ...any) (notify.Channel, bool, error) {
	var (
		c         notify.Channel
		typ       string
		repeatMs  int64
		secretSet bool
	)
	dest := append([]any{&c.ID, &c.Name, &typ, &c.URL, &c.To, &c.SelectorTags, &c.SendResolved,
		&repeatMs, &c.Source, &c.CreatedAt, &c.UpdatedAt, &secretSet, &c.SelectorNamespace}, extra...)
	if err := row.Scan(dest...); err != nil {
		return notify.Channel{}, false, err
	}
	c.Type = notify.Type(typ)
	c.RepeatInterval = time.Duration(repeatMs) * time.Millisecond
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	c.SetDefaults()
	return c, secretSet, nil
}

// CreateChannel stores c, which the caller has defaulted and validated.
func (s *Store) CreateChannel(ctx context.Context, c *notify.Channel) (notify.ChannelView, error) {
	if c.ID == "" {
		c.ID = newID()
	}
	c.SetDefaults() // the arrays are NOT NULL
	now := s.nowMicros()
	c.CreatedAt, c.UpdatedAt = now, now
	_, err := s.pool.Exec(ctx, `INSERT INTO channels (id, name, type, url, secret, email_to, selector_tags,
			send_resolved, repeat_interval_ms, source, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
		c.ID, c.Name, string(c.Type), c.URL, c.Secret, c.To, c.SelectorTags, c.SendResolved,
		c.RepeatInterval.Milliseconds(), c.Source, now)
	if isUniqueViolation(err, "channels_name_active") {
		return notify.ChannelView{}, registry.ErrNameTaken
	}
	if err != nil {
		return notify.ChannelView{}, fmt.Errorf("create channel: %w", err)
	}
	return c.View(), nil
}

// GetChannel returns an active channel, or registry.ErrNotFound.
func (s *Store) GetChannel(ctx context.Context, id string) (notify.ChannelView, error) {
	c, set, err := scanChannel(s.pool.QueryRow(ctx, `SELECT `+channelColumns+` FROM channels c
		WHERE c.id = $1 AND c.deleted_at IS NULL`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.ChannelView{}, registry.ErrNotFound
	}
	if err != nil {
		return notify.ChannelView{}, fmt.Errorf("get channel: %w", err)
	}
	v := c.View()
	v.SecretSet = set
	return v, nil
}

// ListChannels returns every active channel by name.
func (s *Store) ListChannels(ctx context.Context) ([]notify.ChannelView, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+channelColumns+` FROM channels c
		WHERE c.deleted_at IS NULL ORDER BY c.name, c.id`)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	out := []notify.ChannelView{}
	for rows.Next() {
		c, set, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("list channels: %w", err)
		}
		v := c.View()
		v.SecretSet = set
		out = append(out, v)
	}
	return out, rows.Err()
}

// ChannelForSend returns an active channel with its secret, for the test
// message; nothing the API answers may carry what it returns.
func (s *Store) ChannelForSend(ctx context.Context, id string) (notify.Channel, error) {
	return withTxV(ctx, s, func(tx pgx.Tx) (notify.Channel, error) { return lockChannel(ctx, tx, id, false) })
}

// lockChannel reads an active channel with its secret, locking it when
// forUpdate.
func lockChannel(ctx context.Context, tx pgx.Tx, id string, forUpdate bool) (notify.Channel, error) {
	q := `SELECT ` + channelColumns + `, c.secret FROM channels c WHERE c.id = $1 AND c.deleted_at IS NULL`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	var secret string
	c, _, err := scanChannel(tx.QueryRow(ctx, q, id), &secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.Channel{}, registry.ErrNotFound
	}
	if err != nil {
		return notify.Channel{}, fmt.Errorf("read channel: %w", err)
	}
	c.Secret = secret
	return c, nil
}

// UpdateChannel runs mutate on the stored channel (secret included) while
// it is locked and stores the result; an error from mutate aborts the
// update and comes back unchanged.
func (s *Store) UpdateChannel(ctx context.Context, id string, mutate func(*notify.Channel) error) (notify.ChannelView, error) {
	return withTxV(ctx, s, func(tx pgx.Tx) (notify.ChannelView, error) {
		c, err := lockChannel(ctx, tx, id, true)
		if err != nil {
			return notify.ChannelView{}, err
		}
		if err := mutate(&c); err != nil {
			return notify.ChannelView{}, err
		}
		c.SetDefaults() // the arrays are NOT NULL
		c.UpdatedAt = s.nowMicros()
		_, err = tx.Exec(ctx, `UPDATE channels SET name = $2, type = $3, url = $4, secret = $5, email_to = $6,
				selector_tags = $7, send_resolved = $8, repeat_interval_ms = $9, updated_at = $10
			WHERE id = $1`, c.ID, c.Name, string(c.Type), c.URL, c.Secret, c.To, c.SelectorTags,
			c.SendResolved, c.RepeatInterval.Milliseconds(), c.UpdatedAt)
		if isUniqueViolation(err, "channels_name_active") {
			return notify.ChannelView{}, registry.ErrNameTaken
		}
		if err != nil {
			return notify.ChannelView{}, fmt.Errorf("update channel: %w", err)
		}
		return c.View(), nil
	})
}

// DeleteChannel stops a channel: it covers nothing from now on, and what
// it still owed is failed rather than sent to a receiver its owner
// removed. Its delivery log stays readable.
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	return s.withTx(ctx, func(tx pgx.Tx) error {
		now := s.nowMicros()
		tag, err := tx.Exec(ctx, `UPDATE channels SET deleted_at = $2, updated_at = $2
			WHERE id = $1 AND deleted_at IS NULL`, id, now)
		if err != nil {
			return fmt.Errorf("delete channel: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return registry.ErrNotFound
		}
		_, err = tx.Exec(ctx, `UPDATE deliveries SET state = 'failed', error = 'channel deleted',
				lease = NULL, lease_until = NULL
			WHERE channel_id = $1 AND state = 'pending'`, id)
		if err != nil {
			return fmt.Errorf("delete channel: fail its pending deliveries: %w", err)
		}
		return nil
	})
}
