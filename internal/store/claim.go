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
// check.NextTick); publish learns how many grid points the batch passes
// over that way, so the caller can count them as missed.
//
// The rows stay locked (FOR UPDATE SKIP LOCKED) until commit, so
// concurrent schedulers claim disjoint sets and never dispatch a tick
// twice. publish runs inside the transaction: if it fails nothing moves and
// the ticks are claimed again; if the process dies after publishing but
// before commit, the ticks are published again - at least once, and the
// results table's key makes the repeat harmless.
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int, catchUp time.Duration, publish func(ctx context.Context, jobs []check.Job, skipped int) error) (int, error) {
	return withTxV(ctx, s, func(tx pgx.Tx) (int, error) {
		due, err := selectDue(ctx, tx, now, limit, catchUp)
		if err != nil || len(due.jobs) == 0 {
			return 0, err
		}
		if err := publish(ctx, due.jobs, due.skipped); err != nil {
			return 0, fmt.Errorf("publish %d jobs: %w", len(due.jobs), err)
		}
		// The jobs are on the broker now. Finish the claim even if ctx is
		// cancelled meanwhile (a SIGTERM): rolling back would leave the
		// ticks due and publish them a second time after a restart.
		// withTxV's commit holds to the same rule.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		if _, err := tx.Exec(fctx, `UPDATE schedule sc SET next_run_at = v.next
			FROM unnest($1::text[], $2::timestamptz[]) AS v(id, next)
			WHERE sc.check_id = v.id`, due.ids, due.nexts); err != nil {
			return 0, fmt.Errorf("advance schedule: %w", err)
		}
		return len(due.jobs), nil
	})
}

// dueTicks are the claimed checks' jobs, where each check's schedule
// moves once they are published, and how many grid points the claim
// passes over without a job.
type dueTicks struct {
	jobs    []check.Job
	ids     []string
	nexts   []time.Time
	skipped int
}

// selectDue locks up to limit due schedule rows and builds their jobs: one
// per check, or one per region of a check that lists regions (limit counts
// checks, not jobs).
// Only the schedule rows are locked and written: the registry row is read
// for the job's fields, and a concurrent edit of it waits for nothing.
func selectDue(ctx context.Context, tx pgx.Tx, now time.Time, limit int, catchUp time.Duration) (dueTicks, error) {
	rows, err := tx.Query(ctx, `SELECT `+probeColumns+`, sc.next_run_at
		FROM schedule sc JOIN services s ON s.id = sc.check_id
		WHERE sc.next_run_at <= $1
		ORDER BY sc.next_run_at
		LIMIT $2
		FOR UPDATE OF sc SKIP LOCKED`, now, limit)
	if err != nil {
		return dueTicks{}, fmt.Errorf("select due checks: %w", err)
	}
	defer rows.Close()
	var due dueTicks
	for rows.Next() {
		var (
			c    check.Check
			when time.Time
		)
		scan := checkScan{c: &c}
		if err := rows.Scan(append(scan.dest(), &when)...); err != nil {
			return dueTicks{}, fmt.Errorf("scan due check: %w", err)
		}
		scan.decode()
		tick, next := check.NextTick(when.UTC(), now, c.Interval, catchUp)
		due.jobs = check.JobsFor(due.jobs, &c, tick)
		due.ids = append(due.ids, c.ID)
		due.nexts = append(due.nexts, next)
		due.skipped += check.Skipped(when.UTC(), tick, c.Interval)
	}
	if err := rows.Err(); err != nil {
		return dueTicks{}, fmt.Errorf("select due checks: %w", err)
	}
	return due, nil
}

// Behind reports whether some check's next tick is its interval (at least
// check.MinInterval) or more before now: a tick that a claim which does not
// catch up would pass over. A plain read does not wait on the rows another
// scheduler's claim holds locked and sees their committed ticks, which is
// the point: the caller asks whether any scheduler still has late ticks to
// dispatch. The first condition lets the schedule_due index find the few
// candidates; the scan stops at the first match.
func (s *Store) Behind(ctx context.Context, now time.Time) (bool, error) {
	var behind bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1
		FROM schedule sc JOIN services s ON s.id = sc.check_id
		WHERE sc.next_run_at <= $1::timestamptz - make_interval(secs => $2::bigint / 1000.0)
		  AND sc.next_run_at <= $1::timestamptz - make_interval(secs => greatest(s.interval_ms, $2::bigint) / 1000.0))`,
		now, check.MinInterval.Milliseconds()).Scan(&behind)
	if err != nil {
		return false, fmt.Errorf("read whether checks are behind: %w", err)
	}
	return behind, nil
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
