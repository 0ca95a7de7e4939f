package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/store"
)

func TestPauseKeepsTheDutyShare(t *testing.T) {
	require.Equal(t, 300*time.Millisecond, store.PauseFor(0.25, 100*time.Millisecond), "a quarter: work 100 ms, pause 300 ms")
	require.Equal(t, 100*time.Millisecond, store.PauseFor(0.5, 100*time.Millisecond))
	require.Zero(t, store.PauseFor(1, time.Second), "duty 1 runs chunks back to back")
	require.Zero(t, store.PauseFor(0, time.Second), "no duty set: no pause")
	require.Zero(t, store.PauseFor(0.25, 0))
	require.Equal(t, 30*time.Second, store.PauseFor(0.25, time.Hour), "one pause is bounded")
	require.Equal(t, store.DefaultMaintenanceDuty, store.HistoryPolicy{}.WithDefaults().Duty)
}

// sleeps records the pauses of a pass instead of taking them; cancel, when
// set, makes the pause at that index fail as a shutdown would.
type sleeps struct {
	mu     sync.Mutex
	got    []time.Duration
	cancel int
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, d)
	if s.cancel > 0 && len(s.got) == s.cancel {
		return context.Canceled
	}
	return ctx.Err()
}

// A pass pauses after every full rollup chunk, for three times the chunk's
// time at the default duty, and a pause that ends with shutdown stops the
// pass with its remaining marks kept for the next one.
func TestMaintainPacesItsChunks(t *testing.T) {
	s, conn := historyStore(t, 0)
	ctx := context.Background()
	sv := create(t, s, "payments")
	day := t0.Truncate(24 * time.Hour)
	var rs []check.Result
	for h := range 5 {
		rs = append(rs, result(sv.ID, day.Add(time.Duration(h)*time.Hour+time.Minute), true))
	}
	p := policy
	p.Chunk = 2
	_, err := s.Maintain(ctx, day, p) // partitions for the day
	require.NoError(t, err)
	_, err = s.Record(ctx, rs)
	require.NoError(t, err)

	later := day.Add(6 * time.Hour)
	cut := &sleeps{cancel: 1}
	_, err = s.MaintainSleeping(ctx, later, p, cut.sleep)
	require.ErrorIs(t, err, context.Canceled, "a pause that ends with shutdown ends the pass")
	require.Equal(t, int64(3), count(t, conn, `SELECT count(*) FROM rollup_marks`), "the first chunk of two hours is done, three hours wait")

	var paced sleeps
	rep, err := s.MaintainSleeping(ctx, later, p, paced.sleep)
	require.NoError(t, err)
	require.Equal(t, 3, rep.RolledUp)
	require.Len(t, paced.got, 1, "a pause after the full chunk of two, none after the last one of one")
	require.Positive(t, paced.got[0])
	require.Zero(t, count(t, conn, `SELECT count(*) FROM rollup_marks`))
	require.Equal(t, int64(5), count(t, conn, `SELECT count(*) FROM check_rollups`))

	// Duty 1 runs the chunks back to back.
	for h := range 5 {
		rs[h] = result(sv.ID, day.Add(time.Duration(h)*time.Hour+2*time.Minute), true)
	}
	_, err = s.Record(ctx, rs)
	require.NoError(t, err)
	p.Duty = 1
	var none sleeps
	rep, err = s.MaintainSleeping(ctx, later, p, none.sleep)
	require.NoError(t, err)
	require.Equal(t, 5, rep.RolledUp)
	require.Empty(t, none.got)
}

// TestMaintainBoundsItsDailyRollups: a pass drops the expired raw
// partition before it rebuilds days (which it may not finish), stops
// rebuilding once its budget is spent, and holds days_through before the
// days it left, which the next pass finishes.
func TestMaintainBoundsItsDailyRollups(t *testing.T) {
	s, conn := historyStore(t, 0)
	ctx := context.Background()
	day := t0.Truncate(24 * time.Hour)
	p := policy
	p.Chunk = 2
	p.ResultsRetention = 36 * time.Hour
	_, err := s.Maintain(ctx, day, p) // partitions for the day
	require.NoError(t, err)
	var rs []check.Result
	for i := range 5 {
		sv := create(t, s, fmt.Sprintf("svc-%d", i))
		rs = append(rs, result(sv.ID, day.Add(time.Hour), true))
	}
	_, err = s.Record(ctx, rs)
	require.NoError(t, err)

	// Three days later the day has expired: its five check-hours are
	// rolled up (chunks of 2, 2, 1: two pauses), the raw partition goes,
	// and the daily rollups (2, 2, 1) are cut by a shutdown at their
	// first pause.
	later := day.Add(3*24*time.Hour + time.Hour)
	cut := &sleeps{cancel: 3}
	rep, err := s.MaintainSleeping(ctx, later, p, cut.sleep)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 5, rep.RolledUp)
	require.Contains(t, rep.Dropped, "check_results_p"+day.Format("20060102"), "the expired day does not wait for the daily rollups")
	require.Equal(t, int64(3), count(t, conn, `SELECT count(*) FROM rollup_day_marks`))

	// As if an earlier pass had finished the days up to today: the day
	// marked again must be read from hourly rollups until it is rebuilt.
	_, err = conn.Exec(ctx, `UPDATE history_state SET days_through = $1`, later.Truncate(24*time.Hour))
	require.NoError(t, err)
	p.Duty = 1
	p.DaysBudget = time.Nanosecond // spent by the first chunk
	rep, err = s.Maintain(ctx, later, p)
	require.NoError(t, err)
	require.Equal(t, 2, rep.RolledUpDays, "one chunk, then the budget is spent")
	require.Equal(t, int64(1), count(t, conn, `SELECT count(*) FROM rollup_day_marks`))
	var daysThrough time.Time
	require.NoError(t, conn.QueryRow(ctx, `SELECT days_through FROM history_state`).Scan(&daysThrough))
	require.Equal(t, day, daysThrough.UTC(), "queries must not read the day's daily rows while one is missing")

	p.DaysBudget = 0 // the default: ample for the last one
	rep, err = s.Maintain(ctx, later, p)
	require.NoError(t, err)
	require.Equal(t, 1, rep.RolledUpDays)
	require.Zero(t, count(t, conn, `SELECT count(*) FROM rollup_day_marks`))
	require.Equal(t, int64(5), count(t, conn, `SELECT count(*) FROM check_rollups_daily`))
	require.NoError(t, conn.QueryRow(ctx, `SELECT days_through FROM history_state`).Scan(&daysThrough))
	require.Equal(t, later.Truncate(24*time.Hour), daysThrough.UTC(), "a finished pass advances it")
}
