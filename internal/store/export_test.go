package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// MigrateTo lets the external tests start from an older schema.
func (s *Store) MigrateTo(ctx context.Context, last int) (int, error) { return s.migrateTo(ctx, last) }

// QueryRow reads one row into dest, for tests that look at columns the
// store exposes no reader for.
func (s *Store) QueryRow(ctx context.Context, sql string, args ...any) scanner {
	return scanner{s.pool.QueryRow(ctx, sql, args...)}
}

type scanner struct{ row pgx.Row }

func (r scanner) Scan(dest ...any) error { return r.row.Scan(dest...) }

// Exec runs a statement for tests that arrange rows of an older schema.
func (s *Store) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := s.pool.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

// MaintainSleeping is Maintain with sleep standing in for the pauses that
// pace the pass (DefaultMaintenanceDuty).
func (s *Store) MaintainSleeping(ctx context.Context, now time.Time, p HistoryPolicy, sleep func(context.Context, time.Duration) error) (MaintenanceReport, error) {
	p = p.WithDefaults()
	return s.maintainPaced(ctx, now, p, pacer{duty: p.Duty, sleep: sleep})
}

// PauseFor is how long a pass at duty pauses after a chunk that took worked.
func PauseFor(duty float64, worked time.Duration) time.Duration {
	return newPacer(duty).pauseFor(worked)
}
