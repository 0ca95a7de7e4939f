package store

import (
	"context"

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
