package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/histogram"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// historyStore opens a migrated store on its own schema and a plain
// connection to the same schema for looking at tables directly.
func historyStore(t *testing.T, migrateTo int) (*store.Store, *pgx.Conn) {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	url := pgtest.Schema(t)
	s, err := store.Open(ctx, url, 8)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	if migrateTo > 0 {
		_, err = s.MigrateTo(ctx, migrateTo)
	} else {
		_, err = s.Migrate(ctx)
	}
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return s, conn
}

func partitionNames(t *testing.T, conn *pgx.Conn, parent string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
		WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace ORDER BY 1`, parent)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

func count(t *testing.T, conn *pgx.Conn, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, conn.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

var policy = store.HistoryPolicy{ResultsRetention: 30 * 24 * time.Hour, RollupRetention: 400 * 24 * time.Hour}

func TestMaintainCreatesAheadAndDropsWholeDays(t *testing.T) {
	s, conn := historyStore(t, 0)
	ctx := context.Background()
	sv := create(t, s, "payments")

	rep, err := s.Maintain(ctx, t0, policy)
	require.NoError(t, err)
	require.True(t, rep.Ran)
	parts := partitionNames(t, conn, "check_results")
	require.Contains(t, parts, "check_results_p20261126")
	require.Contains(t, parts, "check_results_p20261129", "three days ahead")
	require.NotContains(t, parts, "check_results_p20261130")
	require.Contains(t, parts, "check_results_default")
	require.Contains(t, partitionNames(t, conn, "check_rollups"), "check_rollups_p20261101",
		"rollup partitions cover the days ahead")
	require.Contains(t, partitionNames(t, conn, "check_rollups"), "check_rollups_p20251007", "and 400 days back")
	again, err := s.Maintain(ctx, t0, policy)
	require.NoError(t, err)
	require.Empty(t, again.Created, "a second pass finds nothing to do")

	// A result beyond the partitions lands in the default partition, and
	// moves into its own partition when that is created.
	far := t0.Add(10 * 24 * time.Hour)
	_, err = s.Record(ctx, []check.Result{result(sv.ID, t0, true), result(sv.ID, far, false)})
	require.NoError(t, err)
	require.Equal(t, int64(1), count(t, conn, `SELECT count(*) FROM check_results_default`))
	rep, err = s.Maintain(ctx, t0.Add(8*24*time.Hour), policy)
	require.NoError(t, err)
	require.Contains(t, rep.Created, "check_results_p20261206")
	require.Zero(t, count(t, conn, `SELECT count(*) FROM check_results_default`))
	require.Equal(t, int64(1), count(t, conn, `SELECT count(*) FROM check_results_p20261206`))

	// Retention drops whole days: t0's day goes once it is 30 days old.
	rep, err = s.Maintain(ctx, t0.Add(31*24*time.Hour), policy)
	require.NoError(t, err)
	require.Contains(t, rep.Dropped, "check_results_p20261126")
	require.NotContains(t, partitionNames(t, conn, "check_results"), "check_results_p20261126")
	require.Equal(t, int64(1), count(t, conn, `SELECT count(*) FROM check_results`))
	// Its rollup stays.
	ups, err := s.Rollups(ctx, sv.ID, registry.RollupQuery{Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour), Resolution: time.Hour})
	require.NoError(t, err)
	require.Len(t, ups, 1)
	require.Equal(t, int64(1), ups[0].Checks)

	// A late result for the dropped day does not fail its batch; it waits
	// in the default partition, does not replace the hour's rollup, and
	// the next pass expires it.
	late := result(sv.ID, t0.Add(10*time.Second), false)
	out, err := s.Record(ctx, []check.Result{late, result(sv.ID, t0.Add(31*24*time.Hour), true)})
	require.NoError(t, err)
	require.Equal(t, 2, out.Stored)
	_, err = s.Maintain(ctx, t0.Add(31*24*time.Hour+2*time.Hour), policy)
	require.NoError(t, err)
	require.Zero(t, count(t, conn, `SELECT count(*) FROM check_results_default`))
	ups, err = s.Rollups(ctx, sv.ID, registry.RollupQuery{Since: t0, Until: t0.Add(time.Hour), Resolution: time.Hour})
	require.NoError(t, err)
	require.Equal(t, int64(1), ups[0].Checks)
	require.Zero(t, ups[0].Failures)

	// Rollups expire by whole partitions too.
	rep, err = s.Maintain(ctx, t0.Add(500*24*time.Hour), policy)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Dropped)
	require.Zero(t, count(t, conn, `SELECT count(*) FROM check_rollups`))
}

func TestMaintainRunsInOneProcessAtATime(t *testing.T) {
	s, conn := historyStore(t, 0)
	ctx := context.Background()
	var got bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext(current_schema() || '.vigil.maintenance'))`).Scan(&got))
	require.True(t, got)
	rep, err := s.Maintain(ctx, t0, policy)
	require.NoError(t, err)
	require.False(t, rep.Ran, "another session holds the lock")
	require.Zero(t, count(t, conn, `SELECT count(*) FROM history_partitions`), "no partition exists yet")
	_, err = conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext(current_schema() || '.vigil.maintenance'))`)
	require.NoError(t, err)
	rep, err = s.Maintain(ctx, t0, policy)
	require.NoError(t, err)
	require.True(t, rep.Ran)
	require.NotEmpty(t, rep.Created)
}

func TestMigrationKeepsEveryResult(t *testing.T) {
	s, conn := historyStore(t, 2)
	ctx := context.Background()
	// The schema of release 0002, populated: three checks with a result
	// every minute for 60 days back and a few ahead.
	_, err := conn.Exec(ctx, `INSERT INTO services (id, name, type, url, interval_ms, timeout_ms,
			failure_threshold, success_threshold, created_at, updated_at)
		SELECT 'c' || i, 'svc' || i, 'http', 'http://x/', 60000, 1000, 1, 1, now(), now() FROM generate_series(1, 3) i;
		INSERT INTO check_state (check_id, state) SELECT id, 'UNKNOWN' FROM services;
		INSERT INTO check_results (check_id, scheduled_at, checked_at, success, latency_us, http_status, error)
		SELECT 'c' || i, t, t + interval '5 ms', (extract(epoch FROM t)::bigint / 60) % 7 <> 0,
			(extract(epoch FROM t)::bigint % 997) * 1000 + i, 200, ''
		FROM generate_series(1, 3) i,
			generate_series(date_trunc('minute', now()) - interval '60 days', date_trunc('minute', now()) + interval '3 minutes', interval '1 minute') t`)
	require.NoError(t, err)
	const fingerprint = `SELECT count(*), md5(string_agg(check_id || scheduled_at::text || checked_at::text || success::text
		|| latency_us::text || http_status::text || error, ',' ORDER BY check_id, scheduled_at)) FROM check_results`
	var (
		before, after       int64
		sumBefore, sumAfter string
	)
	require.NoError(t, conn.QueryRow(ctx, fingerprint).Scan(&before, &sumBefore))
	require.Greater(t, before, int64(250_000))

	n, err := s.Migrate(ctx)
	require.NoError(t, err)
	require.Positive(t, n)
	require.NoError(t, conn.QueryRow(ctx, fingerprint).Scan(&after, &sumAfter))
	require.Equal(t, before, after)
	require.Equal(t, sumBefore, sumAfter, "every result is kept, unchanged")
	require.Equal(t, before, count(t, conn, `SELECT count(*) FROM check_results_legacy`), "attached, not copied")
	// Rollups of the existing history add up to it.
	require.Equal(t, before, count(t, conn, `SELECT sum(checks) FROM check_rollups`))
	require.Equal(t, count(t, conn, `SELECT count(*) FROM check_results WHERE NOT success`),
		count(t, conn, `SELECT sum(failures) FROM check_rollups`))
	require.Equal(t, count(t, conn, `SELECT sum(latency_us) FROM check_results`),
		count(t, conn, `SELECT sum(latency_sum_us) FROM check_rollups`))

	// The migrated table takes new results, idempotently, and a pass
	// creates partitions after the legacy one without touching it.
	now := time.Now().UTC()
	r := result("c1", now.Add(time.Hour).Truncate(time.Second), true)
	out, err := s.Record(ctx, []check.Result{r, r})
	require.NoError(t, err)
	require.Equal(t, 1, out.Stored)
	out, err = s.Record(ctx, []check.Result{r})
	require.NoError(t, err)
	require.Zero(t, out.Stored, "a redelivered result stores nothing")
	rep, err := s.Maintain(ctx, now, policy)
	require.NoError(t, err)
	require.NotEmpty(t, rep.Created)
	require.Empty(t, rep.Dropped)
	require.Equal(t, before+1, count(t, conn, `SELECT count(*) FROM check_results`))
	// Migration 0011 marked the days of the existing rollups; the pass
	// built their daily rollups from the hourly ones.
	today := now.Truncate(24 * time.Hour)
	require.Positive(t, rep.RolledUpDays)
	for _, col := range []string{"checks", "failures", "latency_sum_us"} {
		require.Equal(t, count(t, conn, `SELECT sum(`+col+`) FROM check_rollups WHERE hour < $1`, today),
			count(t, conn, `SELECT sum(`+col+`) FROM check_rollups_daily`), col)
	}
	require.Zero(t, count(t, conn, `SELECT count(*) FROM rollup_day_marks WHERE day < $1`, today))
	// Retention drops the legacy partition whole once its last day is old.
	rep, err = s.Maintain(ctx, now.Add(33*24*time.Hour), policy)
	require.NoError(t, err)
	require.Contains(t, rep.Dropped, "check_results_legacy")
	require.Equal(t, before+1, count(t, conn, `SELECT sum(checks) FROM check_rollups`),
		"rollups outlive the raw rows, and the pass rolled up the new result before dropping its day")
}

func TestLatencyBoundsMatchTheDatabase(t *testing.T) {
	_, conn := historyStore(t, 0)
	var got []int64
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT vigil_latency_bounds()`).Scan(&got))
	require.Equal(t, histogram.Bounds, got)
}

func TestSLOTargetIsStored(t *testing.T) {
	s, _ := historyStore(t, 0)
	ctx := context.Background()
	c := newCheck("payments")
	c.SLOTarget = 99.9
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	got, err := s.GetService(ctx, sv.ID)
	require.NoError(t, err)
	require.InDelta(t, 99.9, got.SLOTarget, 1e-9)
	got, err = s.UpdateService(ctx, sv.ID, func(c *check.Check) error { c.SLOTarget = 0; return nil })
	require.NoError(t, err)
	require.Zero(t, got.SLOTarget)
	got, err = s.GetService(ctx, sv.ID)
	require.NoError(t, err)
	require.Zero(t, got.SLOTarget, "0 clears it")
}

// Past the raw retention only rollups remain, so a window's start there is
// widened to its whole hour rather than counting nothing of that hour.
func TestUptimePastTheRawRetentionUsesWholeHours(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	later := t0.Add(40 * 24 * time.Hour)
	s, err := store.Open(ctx, pgtest.Schema(t), 4, store.WithClock(func() time.Time { return later }),
		store.WithHistoryPolicy(policy))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.Migrate(ctx)
	require.NoError(t, err)
	sv := create(t, s, "payments")
	var rs []check.Result
	for i := range 6 {
		rs = append(rs, result(sv.ID, t0.Add(time.Duration(i)*10*time.Minute), i != 0))
	}
	_, err = s.Maintain(ctx, t0, policy)
	require.NoError(t, err)
	_, err = s.Record(ctx, rs)
	require.NoError(t, err)
	_, err = s.Maintain(ctx, later, policy)
	require.NoError(t, err)

	u, err := s.Uptime(ctx, sv.ID, t0.Add(25*time.Minute), later)
	require.NoError(t, err)
	require.Equal(t, int64(6), u.Checks, "the whole 12:00 hour, from its rollup")
	require.Equal(t, int64(1), u.Failures)
	require.Equal(t, 12*time.Millisecond, u.Latency.Avg)
}

// TestPartitionIsCreatedWhileResultsStreamIntoTheDefault: results for a
// day with no partition yet land in the default partition while a pass
// creates that day's partition; results keep arriving throughout, as they
// do under load. The pass must still create it (moving what the default
// holds) and lose nothing: before the fix a result inserted between the
// move and the CREATE made PostgreSQL refuse the partition, on every pass,
// forever.
func TestPartitionIsCreatedWhileResultsStreamIntoTheDefault(t *testing.T) {
	s, conn := historyStore(t, 0)
	ctx := context.Background()
	sv := create(t, s, "payments")
	day := t0.Add(10 * 24 * time.Hour).Truncate(24 * time.Hour) // beyond the partitions of a pass at t0
	_, err := s.Maintain(ctx, t0, policy)
	require.NoError(t, err)

	stop := make(chan struct{})
	wrote := make(chan int)
	go func() {
		n := 0
		defer func() { wrote <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var batch []check.Result
			for range 20 {
				batch = append(batch, result(sv.ID, day.Add(time.Duration(n)*time.Second), true))
				n++
			}
			if _, err := s.Record(ctx, batch); err != nil {
				t.Errorf("record: %v", err)
				return
			}
		}
	}()
	require.Eventually(t, func() bool {
		return count(t, conn, `SELECT count(*) FROM check_results_default`) > 200
	}, 30*time.Second, 10*time.Millisecond)
	// A pass whose window reaches the day creates its partition while the
	// writer keeps going.
	for range 3 {
		_, err = s.Maintain(ctx, day, policy)
		require.NoError(t, err)
	}
	close(stop)
	n := <-wrote
	require.Contains(t, partitionNames(t, conn, "check_results"), "check_results_p"+day.Format("20060102"))
	require.Equal(t, int64(n), count(t, conn, `SELECT count(*) FROM check_results`), "every result is kept")
	require.Zero(t, count(t, conn, `SELECT count(*) FROM check_results_default WHERE scheduled_at >= $1 AND scheduled_at < $2`,
		day, day.Add(24*time.Hour)), "the day's rows moved out of the default partition")
}
