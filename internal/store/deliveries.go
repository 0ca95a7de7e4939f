package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
	"github.com/vigil-dev/vigil/internal/registry"
)

// enqueueDeliveries owes every channel that covers a transition's check
// one delivery of it, in the transaction that logs the transition: if the
// transition commits, so does the work of telling people about it. Which
// transitions are worth telling is notify.Channel.Wants, in SQL. With no
// channels it is one cheap query per batch that changed a state.
func enqueueDeliveries(ctx context.Context, tx pgx.Tx, ts []check.Transition, now time.Time) error {
	if len(ts) == 0 {
		return nil
	}
	ids, checks := make([]int64, len(ts)), make([]string, len(ts))
	from, to := make([]string, len(ts)), make([]string, len(ts))
	for i, t := range ts {
		ids[i], checks[i], from[i], to[i] = t.ID, t.CheckID, string(t.From), string(t.To)
	}
	// The NOTIFY is sent on commit, and only when something was owed: it
	// wakes the dispatchers (ListenDeliveries) instead of their next poll.
	_, err := tx.Exec(ctx, `WITH owed AS (
			INSERT INTO deliveries (id, channel_id, transition_id, check_id, next_attempt_at, created_at)
			SELECT md5(random()::text || clock_timestamp()::text || c.id || t.id::text), c.id, t.id, t.check_id, $5, $5
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS t(id, check_id, from_state, to_state)
			JOIN services s ON s.id = t.check_id
			JOIN channels c ON c.deleted_at IS NULL AND s.tags @> c.selector_tags
				AND (c.selector_namespace = ''
					OR (s.source = 'kubernetes' AND starts_with(s.name, c.selector_namespace || '/')))
			WHERE t.to_state = 'DOWN' OR (t.to_state = 'UP' AND t.from_state = 'DOWN' AND c.send_resolved)
			ON CONFLICT (channel_id, transition_id, seq) DO NOTHING
			RETURNING 1
		)
		SELECT pg_notify('`+deliveriesChannel+`', '') FROM (SELECT 1 FROM owed LIMIT 1) AS any_owed`,
		ids, checks, from, to, now)
	if err != nil {
		return fmt.Errorf("enqueue deliveries: %w", err)
	}
	return nil
}

// deliveriesChannel is the NOTIFY channel that says deliveries are owed.
const deliveriesChannel = "vigil_deliveries"

// ListenDeliveries calls wake whenever a transaction that owed deliveries
// commits, until ctx ends or the connection fails (the error says which;
// the caller listens again). It holds one connection of its own, taken
// out of the pool so that a LISTEN never leaks into another query's
// session.
func (s *Store) ListenDeliveries(ctx context.Context, wake func()) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen for deliveries: %w", err)
	}
	conn := pc.Hijack()
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+deliveriesChannel); err != nil {
		return fmt.Errorf("listen for deliveries: %w", err)
	}
	// Whatever committed before LISTEN took effect is found by the next
	// claim.
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("listen for deliveries: %w", err)
		}
		wake()
	}
}

// ClaimDeliveries leases due deliveries for c.Lease. One statement picks
// them (skipping rows another claim holds, and rows whose channel already
// has an earlier message of the same check pending, so order per service
// and channel holds), and leases them; no lock outlives it.
func (s *Store) ClaimDeliveries(ctx context.Context, c notify.Claim) ([]notify.Job, error) {
	if c.Limit <= 0 {
		return nil, nil
	}
	now := storedTime(c.Now)
	roomIDs, roomN := make([]string, 0, len(c.Room)), make([]int32, 0, len(c.Room))
	for id, n := range c.Room {
		roomIDs, roomN = append(roomIDs, id), append(roomN, int32(n))
	}
	lease := newID()
	rows, err := s.pool.Query(ctx, `WITH cand AS (
			SELECT d.id, row_number() OVER (PARTITION BY d.channel_id ORDER BY d.next_attempt_at, d.transition_id, d.seq) AS rn,
				coalesce(r.n, $3) AS room
			FROM deliveries d
			LEFT JOIN unnest($4::text[], $5::integer[]) AS r(channel_id, n) ON r.channel_id = d.channel_id
			WHERE d.state = 'pending' AND d.next_attempt_at <= $1
			  AND (d.lease_until IS NULL OR d.lease_until <= $1)
			  AND NOT EXISTS (SELECT 1 FROM deliveries e
				WHERE e.channel_id = d.channel_id AND e.check_id = d.check_id AND e.state = 'pending'
				  AND (e.transition_id, e.seq) < (d.transition_id, d.seq))
		), pick AS (
			SELECT d.id FROM deliveries d JOIN cand ON cand.id = d.id
			WHERE cand.rn <= cand.room
			  AND d.state = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $1)
			ORDER BY d.next_attempt_at LIMIT $2
			FOR UPDATE OF d SKIP LOCKED
		)
		UPDATE deliveries d SET lease = $6, lease_until = $1 + $7 * interval '1 millisecond'
		FROM pick, channels c, transitions t, services s
		WHERE d.id = pick.id AND c.id = d.channel_id AND t.id = d.transition_id AND s.id = d.check_id
		RETURNING d.id, d.channel_id, d.transition_id, d.check_id, d.seq > 0, d.attempts, d.created_at,
			c.name, c.type, c.url, c.secret, c.email_to, c.send_resolved,
			`+transitionColumns+`, s.url, s.tags, s.quorum`,
		now, c.Limit, c.PerChannel, roomIDs, roomN, lease, c.Lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer rows.Close()
	var out []notify.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		j.Lease = lease
		out = append(out, j)
	}
	return out, rows.Err()
}

func scanJob(rows pgx.Rows) (notify.Job, error) {
	var (
		j        notify.Job
		typ      string
		tr       transitionScan
		d, ch    = &j.Delivery, &j.Channel
		trDest   = tr.dest()
		jobDests = make([]any, 0, 15+len(trDest))
	)
	jobDests = append(jobDests, &d.ID, &d.ChannelID, &d.TransitionID, &d.ServiceID, &d.Reminder, &d.Attempts, &d.CreatedAt,
		&ch.Name, &typ, &ch.URL, &ch.Secret, &ch.To, &ch.SendResolved)
	dest := append(append(jobDests, trDest...), &j.URL, &j.Tags, &j.Quorum)
	if err := rows.Scan(dest...); err != nil {
		return notify.Job{}, err
	}
	ch.ID, ch.Type = d.ChannelID, notify.Type(typ)
	d.State, d.CreatedAt = notify.StatePending, d.CreatedAt.UTC()
	j.Transition = tr.transition()
	return j, nil
}

// FinishDelivery writes an attempt's outcome back and lets the lease go,
// if the lease is still lease: a claimer whose lease ran out (it hung
// past it) must not overwrite what the claimer after it recorded.
func (s *Store) FinishDelivery(ctx context.Context, id, lease string, o notify.Outcome) error {
	_, err := s.pool.Exec(ctx, `UPDATE deliveries SET state = $3, attempts = attempts + 1, status_code = $4,
			error = $5, next_attempt_at = coalesce($6, next_attempt_at), delivered_at = $7,
			lease = NULL, lease_until = NULL
		WHERE id = $1 AND lease = $2`,
		id, lease, string(o.State), nullInt(o.StatusCode), check.CleanError(o.Error),
		nullTime(storedTime(o.NextAttempt)), nullTime(storedTime(o.DeliveredAt)))
	if err != nil {
		return fmt.Errorf("finish delivery %s: %w", id, err)
	}
	return nil
}

// ScheduleReminders owes a reminder to every channel with a repeat
// interval, for every check it was last told of going DOWN that is still
// DOWN (no later transition), once the last message about it is a repeat
// interval old. The unique key keeps two replicas from adding the same
// reminder. It scans the last message of each (channel, check) pair of
// the channels that repeat.
func (s *Store) ScheduleReminders(ctx context.Context, now time.Time) (int, error) {
	now = storedTime(now)
	tag, err := s.pool.Exec(ctx, `INSERT INTO deliveries (id, channel_id, transition_id, check_id, seq, next_attempt_at, created_at)
		SELECT md5(random()::text || clock_timestamp()::text || l.channel_id || l.transition_id::text || l.seq::text),
			l.channel_id, l.transition_id, l.check_id, l.seq + 1, $1, $1
		FROM (
			SELECT DISTINCT ON (d.channel_id, d.check_id) d.channel_id, d.check_id, d.transition_id, d.seq,
				d.created_at, c.repeat_interval_ms
			FROM deliveries d JOIN channels c ON c.id = d.channel_id
			WHERE c.repeat_interval_ms > 0 AND c.deleted_at IS NULL
			ORDER BY d.channel_id, d.check_id, d.transition_id DESC, d.seq DESC
		) l
		JOIN transitions t ON t.id = l.transition_id AND t.to_state = 'DOWN'
		JOIN check_state cs ON cs.check_id = l.check_id AND cs.state = 'DOWN'
		WHERE l.created_at + l.repeat_interval_ms * interval '1 millisecond' <= $1
		  AND NOT EXISTS (SELECT 1 FROM transitions t2 WHERE t2.check_id = t.check_id AND t2.id > t.id)
		ON CONFLICT (channel_id, transition_id, seq) DO NOTHING`, now)
	if err != nil {
		return 0, fmt.Errorf("schedule reminders: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Deliveries returns a channel's deliveries newest first, and the cursor
// of the next page ("" when there is none).
func (s *Store) Deliveries(ctx context.Context, channelID string, q notify.DeliveryQuery) ([]notify.Delivery, string, error) {
	limit := clampLimit(q.Limit)
	before, beforeID, err := decodeDeliveryCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM channels WHERE id = $1)`, channelID).Scan(&exists); err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	if !exists {
		return nil, "", registry.ErrNotFound
	}
	rows, err := s.pool.Query(ctx, `SELECT id, channel_id, transition_id, check_id, seq > 0, state, attempts,
			coalesce(status_code, 0), error, created_at, delivered_at
		FROM deliveries
		WHERE channel_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
		ORDER BY created_at DESC, id DESC LIMIT $4`, channelID, nullTime(before), beforeID, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	out := []notify.Delivery{}
	for rows.Next() {
		var (
			d     notify.Delivery
			state string
			at    *time.Time
		)
		if err := rows.Scan(&d.ID, &d.ChannelID, &d.TransitionID, &d.ServiceID, &d.Reminder, &state, &d.Attempts,
			&d.StatusCode, &d.Error, &d.CreatedAt, &at); err != nil {
			return nil, "", fmt.Errorf("list deliveries: %w", err)
		}
		d.State, d.CreatedAt, d.DeliveredAt = notify.State(state), d.CreatedAt.UTC(), fromNullTime(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = encodeCursor(last.CreatedAt) + "." + last.ID
	}
	return out, next, nil
}

// decodeDeliveryCursor reads "<time cursor>.<id>"; ids are hex.
func decodeDeliveryCursor(c string) (time.Time, string, error) {
	if c == "" {
		return time.Time{}, "", nil
	}
	tc, id, ok := strings.Cut(c, ".")
	if !ok || id == "" || len(id) > 64 {
		return time.Time{}, "", registry.ErrInvalidCursor
	}
	if _, err := hex.DecodeString(id); err != nil {
		return time.Time{}, "", registry.ErrInvalidCursor
	}
	t, err := decodeCursor(tc)
	if err != nil {
		return time.Time{}, "", registry.ErrInvalidCursor
	}
	return t, id, nil
}

func nullInt(n int) *int32 {
	if n == 0 {
		return nil
	}
	v := int32(n)
	return &v
}

// transitionScan reads transitionColumns.
type transitionScan struct {
	t        check.Transition
	from, to string
	latUs    int64
	sched    *time.Time
}

func (r *transitionScan) dest() []any {
	return []any{&r.t.ID, &r.t.CheckID, &r.t.Service, &r.from, &r.to, &r.t.At, &r.latUs, &r.t.Error, &r.sched,
		&r.t.Region, &r.t.Regions}
}

func (r *transitionScan) transition() check.Transition {
	t := r.t
	t.From, t.To, t.At = check.State(r.from), check.State(r.to), t.At.UTC()
	t.Latency = time.Duration(r.latUs) * time.Microsecond
	t.ScheduledAt = fromNullTime(r.sched)
	if t.Region == check.DefaultRegion {
		t.Region = ""
	}
	return t
}

// OldestDueDelivery is how long the oldest due, undelivered message has
// waited since it was owed (0 when none): the notification queue's age.
func (s *Store) OldestDueDelivery(ctx context.Context, now time.Time) (time.Duration, error) {
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT min(created_at) FROM deliveries
		WHERE state = 'pending' AND next_attempt_at <= $1`, storedTime(now)).Scan(&oldest)
	if err != nil {
		return 0, fmt.Errorf("oldest due delivery: %w", err)
	}
	if oldest == nil {
		return 0, nil
	}
	return max(now.Sub(*oldest), 0), nil
}
