package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/store"
)

// seedHistory gives one check, in a fresh schema, the history a check
// probed every 10 s has after 400 days with the default retention: raw
// results for the last 30 days (259,200 rows) and hourly rollups for 400
// days (9,600 rows), seeded directly in SQL with generate_series; then a
// maintenance pass at now, which also builds the daily rollups (~400
// rows), and ANALYZE. Latencies spread over ~20
// histogram buckets, one result in 50 fails.
func seedHistory(b *testing.B) (*store.Store, *pgx.Conn, string, time.Time) {
	b.Helper()
	ctx := context.Background()
	url := pgtest.Schema(b)
	s, err := store.Open(ctx, url, 4)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(context.Background()) })
	sv, err := s.CreateService(ctx, newCheck("seeded"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := s.Maintain(ctx, now, store.HistoryPolicy{}); err != nil {
		b.Fatal(err)
	}
	hour := now.Truncate(time.Hour)
	for _, q := range []string{
		`INSERT INTO check_results (check_id, scheduled_at, checked_at, success, latency_us, http_status, error)
		 SELECT $1, t, t + interval '2 ms', (n % 50) <> 0, 5000 + (n * 7919) % 200000,
		        CASE WHEN n % 50 = 0 THEN 503 ELSE 200 END,
		        CASE WHEN n % 50 = 0 THEN 'unexpected status 503 (want 200)' ELSE '' END
		 FROM generate_series($2::timestamptz - interval '30 days', $2::timestamptz, interval '10 seconds') WITH ORDINALITY AS g(t, n)`,
		`INSERT INTO check_rollups (check_id, hour, checks, failures, latency_sum_us, latency_min_us, latency_max_us, hist)
		 SELECT $1, h, 360, 7, 360 * 105000, 5000, 205000,
		        (SELECT string_agg(int2send(b::smallint) || int4send(18), ''::bytea ORDER BY b) FROM generate_series(25, 44) b)
		 FROM generate_series($2::timestamptz - interval '400 days', $2::timestamptz - interval '30 days', interval '1 hour') h`,
	} {
		if _, err := conn.Exec(ctx, q, sv.ID, hour); err != nil {
			b.Fatal(err)
		}
	}
	// Roll up the raw days as the loop would have, hour by hour.
	if _, err := conn.Exec(ctx, `DELETE FROM rollup_marks`); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO rollup_marks SELECT DISTINCT check_id, date_trunc('hour', scheduled_at, 'UTC') FROM check_results`); err != nil {
		b.Fatal(err)
	}
	// And the days of the seeded hourly rollups, as their passes would have.
	if _, err := conn.Exec(ctx, `INSERT INTO rollup_day_marks SELECT DISTINCT check_id, date_trunc('day', hour, 'UTC') FROM check_rollups
		ON CONFLICT DO NOTHING`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Maintain(ctx, now, store.HistoryPolicy{}); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return s, conn, sv.ID, now
}

// BenchmarkUptime is the uptime query over 90 and 400 days of one check's
// seeded history, and the SLO endpoint's four (the window and the 1 h,
// 6 h and 24 h burn rates).
func BenchmarkUptime(b *testing.B) {
	s, _, id, now := seedHistory(b)
	ctx := context.Background()
	for _, days := range []int{90, 400} {
		window := time.Duration(days) * 24 * time.Hour
		b.Run("uptime/"+strconv.Itoa(days)+"d", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Uptime(ctx, id, now.Add(-window), now); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("slo/"+strconv.Itoa(days)+"d", func(b *testing.B) {
			for b.Loop() {
				for _, w := range []time.Duration{window, time.Hour, 6 * time.Hour, 24 * time.Hour} {
					if _, err := s.Uptime(ctx, id, now.Add(-w), now); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkHistorySize reports the measured on-disk bytes per raw result
// and per rollup row (tables, indexes and TOAST, pg_total_relation_size)
// of the seeded history; docs/operations.md sizes installs from them.
func BenchmarkHistorySize(b *testing.B) {
	_, conn, _, _ := seedHistory(b) //nolint:dogsled // only the connection is needed to size the tables
	ctx := context.Background()
	var resultBytes, results, rollupBytes, rollups float64
	q := `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::float8 FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace`
	for b.Loop() {
		for _, m := range []struct {
			parent string
			bytes  *float64
			rows   *float64
		}{{"check_results", &resultBytes, &results}, {"check_rollups", &rollupBytes, &rollups}} {
			if err := conn.QueryRow(ctx, q, m.parent).Scan(m.bytes); err != nil {
				b.Fatal(err)
			}
			if err := conn.QueryRow(ctx, `SELECT count(*)::float8 FROM `+m.parent).Scan(m.rows); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(resultBytes/results, "B/result")
	b.ReportMetric(rollupBytes/rollups, "B/rollup")
	b.ReportMetric(results, "results")
	b.ReportMetric(rollups, "rollups")
}
