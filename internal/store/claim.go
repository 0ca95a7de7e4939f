package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
)

// ClaimDue claims up to limit checks whose next tick is at or before now,
// hands their jobs to publish and, only when publish succeeds, advances
// each check to its next grid point in the same transaction. Ticks missed
// by at most catchUp are dispatched late; older ones are skipped (see
// check.NextTick).
//
// The rows stay locked (FOR UPDATE SKIP LOCKED) until commit, so
// concurrent schedulers claim disjoint sets and never dispatch a tick
// twice. publish runs inside the transaction: if it fails nothing moves and
// the ticks are claimed again; if the process dies after publishing but
// before commit, the ticks are published again - at least once, and the
// results table's key makes the repeat harmless.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int, catchUp time.Duration, publish func(context.Context, []check.Job) error) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin claim: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	return s.claim(ctx, tx, now, limit, catchUp, publish)
}

// claim is ClaimDue inside its transaction; it commits once jobs were
// published, and otherwise leaves the rollback to ClaimDue.
func (s *Store) claim(ctx context.Context, tx pgx.Tx, now time.Time, limit int, catchUp time.Duration, publish func(context.Context, []check.Job) error) (int, error) {
	var n int
	err := func() error {
		// Only the schedule rows are locked and written: the registry row
		// is read for the job's fields, and a concurrent edit of it waits
		// for nothing.
		rows, err := tx.Query(ctx, `SELECT s.id, s.name, s.type, s.url, s.method, s.expected_status, s.grpc_service,
				s.interval_ms, s.timeout_ms, sc.next_run_at
			FROM schedule sc JOIN services s ON s.id = sc.check_id
			WHERE sc.next_run_at <= $1
			ORDER BY sc.next_run_at
			LIMIT $2
			FOR UPDATE OF sc SKIP LOCKED`, now, limit)
		if err != nil {
			return fmt.Errorf("select due checks: %w", err)
		}
		var (
			jobs  []check.Job
			ids   []string
			nexts []time.Time
		)
		for rows.Next() {
			var (
				c          check.Check
				typ        string
				intervalMs int64
				timeoutMs  float64
				due        time.Time
			)
			if err := rows.Scan(&c.ID, &c.Name, &typ, &c.URL, &c.Method, &c.ExpectedStatus, &c.GRPCService,
				&intervalMs, &timeoutMs, &due); err != nil {
				rows.Close()
				return fmt.Errorf("scan due check: %w", err)
			}
			c.Type = check.Type(typ)
			c.Interval = time.Duration(intervalMs) * time.Millisecond
			c.Timeout = time.Duration(timeoutMs * float64(time.Millisecond))
			tick, next := check.NextTick(due.UTC(), now, c.Interval, catchUp)
			jobs = append(jobs, check.JobFor(&c, tick))
			ids = append(ids, c.ID)
			nexts = append(nexts, next)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("select due checks: %w", err)
		}
		if len(jobs) == 0 {
			return nil
		}
		if err := publish(ctx, jobs); err != nil {
			return fmt.Errorf("publish %d jobs: %w", len(jobs), err)
		}
		// The jobs are on the broker now. Finish the claim even if ctx is
		// cancelled meanwhile (a SIGTERM): rolling back would leave the
		// ticks due and publish them a second time after a restart.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := tx.Exec(fctx, `UPDATE schedule sc SET next_run_at = v.next
			FROM unnest($1::text[], $2::timestamptz[]) AS v(id, next)
			WHERE sc.check_id = v.id`, ids, nexts); err != nil {
			return fmt.Errorf("advance schedule: %w", err)
		}
		if err := tx.Commit(fctx); err != nil {
			return fmt.Errorf("commit claim: %w", err)
		}
		n = len(jobs)
		return nil
	}()
	return n, err
}

// NextDue returns the earliest scheduled tick of any active check, or
// false when there is none, so the scheduler can sleep until then.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var t *time.Time
	err := s.pool.QueryRow(ctx, `SELECT min(next_run_at) FROM schedule`).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && t == nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read next due tick: %w", err)
	}
	return t.UTC(), true, nil
}
