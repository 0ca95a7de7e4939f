package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// The listing's indexes exist after migrating a schema of its own,
// including the trigram index, whose extension lives outside that schema
// (the test schema's search_path does not include it).
func TestMigrateCreatesListingIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Schema(t)
	s, err := store.Open(ctx, url, 2)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, `SELECT indexname FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'services' ORDER BY indexname`)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, names, "services_list")
	require.Contains(t, names, "services_name_trgm", "pg_trgm is available on the test server")
}

// Paging a large registry visits every service exactly once, in order.
func TestPageServicesWalksEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := seedServices(t, 2500)
	seen, prev, cursor := 0, "", ""
	for {
		page, next, err := s.PageServices(ctx, registry.ServiceQuery{Limit: 1000, Cursor: cursor})
		require.NoError(t, err)
		for _, sv := range page {
			require.Greater(t, sv.Name, prev)
			prev = sv.Name
			seen++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, 2500, seen)
	counts, err := s.CountServices(ctx, registry.ListFilter{Tag: "team-3"})
	require.NoError(t, err)
	require.Equal(t, int64(125), counts.Total)
	var sum int64
	for _, n := range counts.ByState {
		sum += n
	}
	require.Equal(t, counts.Total, sum)
}
