package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// seedSQL registers $1 services straight in SQL, far faster than one
// CreateService each: svc-000001 … with one of 20 team tags, and states
// spread as a big install might have them (mostly UP, some DOWN, UNKNOWN
// and PAUSED). They are never scheduled.
const seedSQL = `WITH ins AS (
	INSERT INTO services (id, name, type, url, method, expected_status, interval_ms, timeout_ms,
		failure_threshold, success_threshold, tags, paused, created_at, updated_at)
	SELECT 'seed' || lpad(g::text, 7, '0'), 'svc-' || lpad(g::text, 6, '0'), 'http',
		'http://10.0.' || (g % 250) || '.' || (g % 200) || ':8080/healthz', 'GET', 200, 10000, 5000, 3, 1,
		ARRAY['team-' || (g % 20), CASE WHEN g % 3 = 0 THEN 'staging' ELSE 'prod' END], g % 97 = 0, now(), now()
	FROM generate_series(1, $1::int) g
	RETURNING id, paused, (substr(id, 5))::int AS g)
INSERT INTO check_state (check_id, state, last_checked_at, last_latency_us, last_change_at)
SELECT id, CASE WHEN paused THEN 'PAUSED' WHEN g % 50 = 0 THEN 'DOWN' WHEN g % 31 = 0 THEN 'UNKNOWN' ELSE 'UP' END,
	now(), 1000 + g % 5000, now() - make_interval(mins => g % 1440)
FROM ins`

// seedServices opens a migrated store in a schema of its own holding n
// seeded services.
func seedServices(tb testing.TB, n int) *store.Store {
	tb.Helper()
	ctx := context.Background()
	url := pgtest.Schema(tb)
	s, err := store.Open(ctx, url, 4)
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	_, err = s.Migrate(ctx)
	require.NoError(tb, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(tb, err)
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, seedSQL, n)
	require.NoError(tb, err)
	_, err = conn.Exec(ctx, `ANALYZE services; ANALYZE check_state`)
	require.NoError(tb, err)
	return s
}

// BenchmarkPageServices is GET /services?limit=100 at 50,000 services, as
// the store answers it: the first page, a page deep in the list (a
// cursor), a name search, a state filter, and the per-state counts the
// dashboard's header shows.
func BenchmarkPageServices(b *testing.B) {
	const services = 50000
	ctx := context.Background()
	s := seedServices(b, services)
	_, mid, err := s.PageServices(ctx, registry.ServiceQuery{Limit: services / 2})
	require.NoError(b, err)
	cases := []struct {
		name string
		q    registry.ServiceQuery
	}{
		{"first-page", registry.ServiceQuery{Limit: 100}},
		{"middle-page", registry.ServiceQuery{Limit: 100, Cursor: mid}},
		{"search-rare", registry.ServiceQuery{Limit: 100, ListFilter: registry.ListFilter{Name: "SVC-04999"}}},
		{"search-common", registry.ServiceQuery{Limit: 100, ListFilter: registry.ListFilter{Name: "svc-0"}}},
		{"state-down", registry.ServiceQuery{Limit: 100, ListFilter: registry.ListFilter{State: check.StateDown}}},
		{"tag", registry.ServiceQuery{Limit: 100, ListFilter: registry.ListFilter{Tag: "team-7"}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				list, _, err := s.PageServices(ctx, c.q)
				if err != nil || len(list) == 0 {
					b.Fatalf("page: %d services, %v", len(list), err)
				}
			}
		})
	}
	b.Run("counts", func(b *testing.B) {
		for b.Loop() {
			got, err := s.CountServices(ctx, registry.ListFilter{})
			if err != nil || got.Total != services {
				b.Fatalf("counts: %+v, %v", got, err)
			}
		}
	})
}
