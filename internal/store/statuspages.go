package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

const statusPageColumns = `p.id, p.slug, p.title, p.tags, p.service_ids, p.public, p.source, p.created_at, p.updated_at`

func scanStatusPage(row pgx.Row) (registry.StatusPage, error) {
	var p registry.StatusPage
	if err := row.Scan(&p.ID, &p.Slug, &p.Title, &p.Tags, &p.ServiceIDs, &p.Public, &p.Source,
		&p.CreatedAt, &p.UpdatedAt); err != nil {
		return registry.StatusPage{}, err
	}
	p.Tags = nonNil(p.Tags)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

// CreateStatusPage stores p, which the caller has validated. The store
// assigns the id (unless p.ID is set) and the timestamps.
func (s *Store) CreateStatusPage(ctx context.Context, p registry.StatusPage) (registry.StatusPage, error) {
	if p.ID == "" {
		p.ID = newID()
	}
	if p.Source == "" {
		p.Source = check.SourceAPI
	}
	now := s.nowMicros()
	_, err := s.pool.Exec(ctx, `INSERT INTO status_pages (id, slug, title, tags, service_ids, public, source, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
		p.ID, p.Slug, p.Title, nonNil(p.Tags), p.ServiceIDs, p.Public, p.Source, now)
	if isUniqueViolation(err, "status_pages_slug_key") {
		return registry.StatusPage{}, registry.ErrSlugTaken
	}
	if err != nil {
		return registry.StatusPage{}, fmt.Errorf("create status page %q: %w", p.Slug, err)
	}
	return s.GetStatusPage(ctx, p.ID)
}

// GetStatusPage returns the page with id, or registry.ErrNotFound.
func (s *Store) GetStatusPage(ctx context.Context, id string) (registry.StatusPage, error) {
	return s.getStatusPage(ctx, `p.id = $1`, id)
}

// StatusPageBySlug returns the page with slug, or registry.ErrNotFound.
func (s *Store) StatusPageBySlug(ctx context.Context, slug string) (registry.StatusPage, error) {
	return s.getStatusPage(ctx, `p.slug = $1`, slug)
}

func (s *Store) getStatusPage(ctx context.Context, where, arg string) (registry.StatusPage, error) {
	p, err := scanStatusPage(s.pool.QueryRow(ctx, `SELECT `+statusPageColumns+` FROM status_pages p WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return registry.StatusPage{}, registry.ErrNotFound
	}
	if err != nil {
		return registry.StatusPage{}, fmt.Errorf("get status page %s: %w", arg, err)
	}
	return p, nil
}

// ListStatusPages returns every page, ordered by slug.
func (s *Store) ListStatusPages(ctx context.Context) ([]registry.StatusPage, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+statusPageColumns+` FROM status_pages p ORDER BY p.slug`)
	if err != nil {
		return nil, fmt.Errorf("list status pages: %w", err)
	}
	defer rows.Close()
	out := []registry.StatusPage{}
	for rows.Next() {
		p, err := scanStatusPage(rows)
		if err != nil {
			return nil, fmt.Errorf("list status pages: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list status pages: %w", err)
	}
	return out, nil
}

// UpdateStatusPage runs mutate on the stored page with its row locked and
// saves the result; an error from mutate aborts and comes back unchanged.
// Id, source and creation time are the store's and survive mutate.
func (s *Store) UpdateStatusPage(ctx context.Context, id string, mutate func(*registry.StatusPage) error) (registry.StatusPage, error) {
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		cur, err := scanStatusPage(tx.QueryRow(ctx, `SELECT `+statusPageColumns+` FROM status_pages p WHERE p.id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return registry.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock status page %s: %w", id, err)
		}
		next := cur
		if err := mutate(&next); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE status_pages SET slug = $2, title = $3, tags = $4, service_ids = $5, public = $6,
			updated_at = $7 WHERE id = $1`,
			id, next.Slug, next.Title, nonNil(next.Tags), next.ServiceIDs, next.Public, s.nowMicros())
		return err
	})
	switch {
	case isUniqueViolation(err, "status_pages_slug_key"):
		return registry.StatusPage{}, registry.ErrSlugTaken
	case errors.Is(err, registry.ErrNotFound):
		return registry.StatusPage{}, registry.ErrNotFound
	case err != nil:
		if _, ok := check.AsFieldError(err); ok {
			return registry.StatusPage{}, err
		}
		return registry.StatusPage{}, fmt.Errorf("update status page %s: %w", id, err)
	}
	return s.GetStatusPage(ctx, id)
}

// UpsertStatusPage creates or replaces the page with p.ID, as the
// Kubernetes reconciler needs: the resource is the source of truth.
func (s *Store) UpsertStatusPage(ctx context.Context, p registry.StatusPage) error {
	if p.ID == "" {
		return errors.New("upsert status page: id is required")
	}
	_, err := s.UpdateStatusPage(ctx, p.ID, func(cur *registry.StatusPage) error {
		cur.Slug, cur.Title, cur.Tags, cur.ServiceIDs, cur.Public = p.Slug, p.Title, p.Tags, p.ServiceIDs, p.Public
		return nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		_, err = s.CreateStatusPage(ctx, p)
	}
	return err
}

// DeleteStatusPage removes the page; registry.ErrNotFound when there is none.
func (s *Store) DeleteStatusPage(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM status_pages WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete status page %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return registry.ErrNotFound
	}
	return nil
}

// pageSelects is the condition under which page p shows service s: the
// services it lists, or, without a list, those carrying any of its tags.
const pageSelects = `(CASE WHEN p.service_ids IS NULL THEN s.tags && p.tags ELSE s.id = ANY (p.service_ids) END)`

// StatusPageServices returns the active services the page with id
// selects, ordered by name.
func (s *Store) StatusPageServices(ctx context.Context, id string) ([]registry.Service, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+serviceColumns+serviceFrom+`
		JOIN status_pages p ON p.id = $1 AND `+pageSelects+`
		WHERE s.deleted_at IS NULL
		ORDER BY s.name`, id)
	if err != nil {
		return nil, fmt.Errorf("services of status page %s: %w", id, err)
	}
	defer rows.Close()
	out := []registry.Service{}
	for rows.Next() {
		sv, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("services of status page %s: %w", id, err)
		}
		out = append(out, sv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("services of status page %s: %w", id, err)
	}
	return out, nil
}

// OnPublicStatusPage reports whether an active service with id is shown on
// at least one public status page: what lets anyone see its badges.
func (s *Store) OnPublicStatusPage(ctx context.Context, checkID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM services s JOIN status_pages p ON p.public AND `+pageSelects+`
		WHERE s.id = $1 AND s.deleted_at IS NULL)`, checkID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up public pages of %s: %w", checkID, err)
	}
	return ok, nil
}

// DailyUptime counts the results of each check in ids per UTC day, over
// the ticks in [since, until), in one statement: whole days from the daily
// rollups, whole hours from the hourly ones and the rest from the raw
// results (the pieces of Uptime, splitWindow), so 90 bars of a page with
// hundreds of services read ~90 rows a service, and days older than the
// raw retention still have bars. Days without results are absent.
func (s *Store) DailyUptime(ctx context.Context, ids []string, since, until time.Time) (map[string][]registry.DayUptime, error) {
	out := map[string][]registry.DayUptime{}
	if len(ids) == 0 {
		return out, nil
	}
	through, daysThrough, err := s.rollupBounds(ctx)
	if err != nil {
		return nil, fmt.Errorf("daily uptime: %w", err)
	}
	w := splitWindow(since.UTC(), until.UTC(), through, daysThrough)
	rows, err := s.pool.Query(ctx, `SELECT check_id, day, sum(checks)::bigint, sum(failures)::bigint FROM (
			SELECT check_id, date_trunc('day', scheduled_at, 'UTC') AS day, count(*) AS checks, count(*) FILTER (WHERE NOT success) AS failures
			FROM check_results
			WHERE check_id = ANY ($1) AND ((scheduled_at >= $2 AND scheduled_at < $3) OR (scheduled_at >= $6 AND scheduled_at < $7))
			GROUP BY 1, 2
			UNION ALL
			SELECT check_id, date_trunc('day', hour, 'UTC'), checks, failures
			FROM check_rollups WHERE check_id = ANY ($1) AND ((hour >= $3 AND hour < $4) OR (hour >= $5 AND hour < $6))
			UNION ALL
			SELECT check_id, day, checks, failures
			FROM check_rollups_daily WHERE check_id = ANY ($1) AND day >= $4 AND day < $5
		) p
		GROUP BY 1, 2 ORDER BY 1, 2`, ids, w.since, w.hStart, w.dStart, w.dEnd, w.hEnd, w.until)
	if err != nil {
		return nil, fmt.Errorf("daily uptime: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			d  registry.DayUptime
		)
		if err := rows.Scan(&id, &d.Day, &d.Checks, &d.Failures); err != nil {
			return nil, fmt.Errorf("daily uptime: %w", err)
		}
		d.Day = d.Day.UTC()
		out[id] = append(out[id], d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("daily uptime: %w", err)
	}
	return out, nil
}

// TransitionsOf returns the newest incidents of the checks in ids (the
// transitions check.IsIncident accepts), newest first, at most limit of
// them.
func (s *Store) TransitionsOf(ctx context.Context, ids []string, limit int) ([]check.Transition, error) {
	if len(ids) == 0 {
		return []check.Transition{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+transitionColumns+` FROM transitions t
		WHERE t.check_id = ANY ($1)
		  AND (t.to_state = 'DOWN' OR (t.from_state = 'DOWN' AND t.to_state = 'UP'))
		ORDER BY t.id DESC LIMIT $2`, ids, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("query transitions: %w", err)
	}
	return collectTransitions(rows)
}
