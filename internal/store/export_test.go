package store

import "context"

// MigrateTo lets the external tests start from an older schema.
func (s *Store) MigrateTo(ctx context.Context, last int) (int, error) { return s.migrateTo(ctx, last) }
