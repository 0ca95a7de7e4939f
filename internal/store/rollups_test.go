package store_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/histogram"
	"github.com/vigil-dev/vigil/internal/registry"
)

type hourKey struct {
	check string
	hour  time.Time
}

// readRollups returns every stored rollup as a histogram.Summary.
func readRollups(t *testing.T, conn *pgx.Conn) map[hourKey]histogram.Summary {
	t.Helper()
	return readRollupTable(t, conn, "check_rollups", "hour")
}

// readRollupTable reads the hourly or the daily rollups, keyed by start.
func readRollupTable(t *testing.T, conn *pgx.Conn, table, key string) map[hourKey]histogram.Summary {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT check_id, `+key+`, checks, failures, latency_sum_us,
		latency_min_us, latency_max_us, hist FROM `+table)
	require.NoError(t, err)
	defer rows.Close()
	out := map[hourKey]histogram.Summary{}
	for rows.Next() {
		var (
			k    hourKey
			s    histogram.Summary
			hist []byte
		)
		require.NoError(t, rows.Scan(&k.check, &k.hour, &s.Checks, &s.Failures, &s.SumUs, &s.MinUs, &s.MaxUs, &hist))
		k.hour = k.hour.UTC()
		s.Hist = map[int]int64{}
		require.Zero(t, len(hist)%6, "6 bytes a bucket")
		for ; len(hist) > 0; hist = hist[6:] {
			s.Hist[int(binary.BigEndian.Uint16(hist))] = int64(binary.BigEndian.Uint32(hist[2:]))
		}
		out[k] = s
	}
	require.NoError(t, rows.Err())
	return out
}

// TestRollupsEqualRawResults records random histories - batches in random
// order, redeliveries (some with different content, which the store
// ignores), results arriving hours late - with maintenance passes in
// between at times the test sets, and then compares every hourly rollup,
// and uptime over random windows, with what the results that were
// stored add up to. Exactly. The hours variant ticks every 10-90 s for 8
// hours; the days variant every 2-15 min for 60 hours, so whole UTC days
// get daily rollups and windows read all three sources.
func TestRollupsEqualRawResults(t *testing.T) {
	t.Run("hours", func(t *testing.T) { rollupsEqualRawResults(t, 8, 10, 80) })
	t.Run("days", func(t *testing.T) { rollupsEqualRawResults(t, 60, 120, 780) })
}

func rollupsEqualRawResults(t *testing.T, hours, minGapS, spreadS int) {
	s, conn := historyStore(t, 0)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	ids := []string{create(t, s, "a").ID, create(t, s, "b").ID, create(t, s, "c").ID}
	start := t0.Truncate(time.Hour)

	// Every tick of every check, at a random 10-90 s spacing.
	var all []check.Result
	for _, id := range ids {
		for at := start.Add(time.Duration(rng.IntN(60)) * time.Second); at.Before(start.Add(time.Duration(hours) * time.Hour)); at = at.Add(time.Duration(minGapS+rng.IntN(spreadS)) * time.Second) {
			r := result(id, at, rng.IntN(5) != 0)
			r.Latency = time.Duration(rng.Int64N(3_000_000)) * time.Microsecond
			all = append(all, r)
		}
	}
	// Deliveries: mostly in tick order with local shuffles, a tenth held
	// back for hours, and a tenth delivered twice (the second time with
	// other content, which must not count).
	type delivery struct {
		at time.Time // when it is recorded
		r  check.Result
	}
	var ds []delivery
	for _, r := range all {
		at := r.ScheduledAt.Add(time.Duration(rng.IntN(30)) * time.Second)
		if rng.IntN(10) == 0 {
			at = at.Add(time.Duration(1+rng.IntN(4*3600)) * time.Second)
		}
		ds = append(ds, delivery{at, r})
		if rng.IntN(10) == 0 {
			dup := r
			dup.Status, dup.Latency = check.ResultDown, 59*time.Second
			ds = append(ds, delivery{at.Add(time.Duration(rng.IntN(7200)) * time.Second), dup})
		}
	}
	first := map[hourKey]bool{} // keyed by tick here
	want := map[hourKey]histogram.Summary{}
	var stored []check.Result
	// Walk time forward in 5-minute steps: record what is due, then run a
	// pass now and then.
	end := start.Add(time.Duration(hours+7) * time.Hour) // the latest delivery: a tick, 30 s, 4 h late, 2 h more for its duplicate
	for now := start; now.Before(end); now = now.Add(5 * time.Minute) {
		var batch []check.Result
		rest := ds[:0]
		for _, d := range ds {
			if d.at.Before(now) {
				batch = append(batch, d.r)
			} else {
				rest = append(rest, d)
			}
		}
		ds = rest
		rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		for len(batch) > 0 {
			n := min(len(batch), 1+rng.IntN(40))
			_, err := s.Record(ctx, batch[:n])
			require.NoError(t, err)
			for _, r := range batch[:n] {
				k := hourKey{r.CheckID, r.ScheduledAt}
				if !first[k] {
					first[k] = true
					stored = append(stored, r)
				}
			}
			batch = batch[n:]
		}
		if rng.IntN(3) == 0 {
			_, err := s.Maintain(ctx, now, policy)
			require.NoError(t, err)
		}
	}
	require.Empty(t, ds)
	_, err := s.Maintain(ctx, end.Add(time.Hour), policy)
	require.NoError(t, err)

	for _, r := range stored {
		k := hourKey{r.CheckID, r.ScheduledAt.Truncate(time.Hour)}
		sum := want[k]
		sum.Observe(r.Success(), r.Latency.Microseconds())
		want[k] = sum
	}
	require.Equal(t, want, readRollups(t, conn))
	wantDays := map[hourKey]histogram.Summary{}
	for _, r := range stored {
		k := hourKey{r.CheckID, r.ScheduledAt.UTC().Truncate(24 * time.Hour)}
		if !k.hour.Add(24 * time.Hour).After(end) { // whole before the last pass
			sum := wantDays[k]
			sum.Observe(r.Success(), r.Latency.Microseconds())
			wantDays[k] = sum
		}
	}
	require.Equal(t, wantDays, readRollupTable(t, conn, "check_rollups_daily", "day"))
	// GET /rollups?resolution=1d reads those daily rows (and hourly ones
	// after days_through): the same days, counted once.
	for _, id := range ids {
		got, err := s.Rollups(ctx, id, registry.RollupQuery{Since: start.Truncate(24 * time.Hour),
			Until: end.Add(24 * time.Hour), Resolution: 24 * time.Hour})
		require.NoError(t, err)
		exp := []registry.Rollup{}
		for d := start.Truncate(24 * time.Hour); d.Before(end); d = d.Add(24 * time.Hour) {
			if sum, ok := wantDays[hourKey{id, d}]; ok {
				exp = append(exp, registry.Rollup{Start: d, Checks: sum.Checks, Failures: sum.Failures,
					Latency: registry.Latency{Avg: sum.Avg(), P95: sum.P95(), Max: sum.Max()}})
			}
		}
		require.Equal(t, exp, got, "daily rollups of %s", id)
	}

	// Uptime over random windows, some with whole hours from rollups and
	// edges from raw rows, equals the stored results in the window.
	for range 30 {
		span := int64(time.Duration(hours) * time.Hour)
		a := start.Add(time.Duration(rng.Int64N(span)))
		b := a.Add(time.Duration(1 + rng.Int64N(span)))
		id := ids[rng.IntN(len(ids))]
		var exp histogram.Summary
		for _, r := range stored {
			if r.CheckID == id && !r.ScheduledAt.Before(a) && r.ScheduledAt.Before(b) {
				exp.Observe(r.Success(), r.Latency.Microseconds())
			}
		}
		got, err := s.Uptime(ctx, id, a, b)
		require.NoError(t, err)
		require.Equal(t, registry.Uptime{Checks: exp.Checks, Failures: exp.Failures,
			Latency: registry.Latency{Avg: exp.Avg(), P95: exp.P95(), Max: exp.Max()}}, got, "window [%s, %s)", a, b)
	}
}
