package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

func result(id string, tick time.Time, up bool) check.Result {
	r := check.Result{CheckID: id, ScheduledAt: tick, CheckedAt: tick.Add(3 * time.Millisecond),
		Status: check.ResultUp, Latency: 12 * time.Millisecond, HTTPStatus: 200}
	if !up {
		r.Status, r.HTTPStatus, r.Error = check.ResultDown, 503, "unexpected status 503 (want 200)"
	}
	return r
}

func TestRecordIsIdempotent(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	sv := create(t, s, "payments")
	r := result(sv.ID, t0.Add(10*time.Second), true)

	out, err := s.Record(ctx, []check.Result{r})
	require.NoError(t, err)
	require.Equal(t, 1, out.Stored)
	require.Len(t, out.Transitions, 1)
	first := out.Transitions[0]
	require.Equal(t, check.StateUnknown, first.From)
	require.Equal(t, check.StateUp, first.To)
	require.Equal(t, "payments", first.Service)

	again, err := s.Record(ctx, []check.Result{r})
	require.NoError(t, err)
	require.Zero(t, again.Stored, "a redelivered result is stored once")
	require.Equal(t, []check.Transition{first}, again.Transitions,
		"a redelivery hands back the transition its first delivery logged, for re-publishing")

	all, err := s.Transitions(ctx, registry.TransitionQuery{CheckID: sv.ID})
	require.NoError(t, err)
	require.Len(t, all, 1, "duplicates never log a transition")
	res, _, err := s.Results(ctx, sv.ID, registry.ResultQuery{})
	require.NoError(t, err)
	require.Len(t, res, 1)

	got, err := s.GetService(ctx, sv.ID)
	require.NoError(t, err)
	require.Equal(t, check.StateUp, got.State.State)
	require.Equal(t, 12*time.Millisecond, got.State.LastLatency)
	require.Equal(t, r.CheckedAt, got.State.LastCheckedAt)
}

// Two workers finish the probes of two consecutive ticks and record them
// at the same time, in either order. The newer tick must win and exactly
// one transition must be logged.
func TestConcurrentRecordsInEitherOrder(t *testing.T) {
	for _, newerFirst := range []bool{true, false} {
		t.Run(map[bool]string{true: "newer first", false: "older first"}[newerFirst], func(t *testing.T) {
			s, _ := newStore(t)
			ctx := context.Background()
			sv := create(t, s, "payments")
			older := result(sv.ID, t0.Add(10*time.Second), true)
			newer := result(sv.ID, t0.Add(20*time.Second), false)
			first, second := older, newer
			if newerFirst {
				first, second = newer, older
			}
			var wg sync.WaitGroup
			for i, r := range []check.Result{first, second} {
				wg.Go(func() {
					time.Sleep(time.Duration(i) * 2 * time.Millisecond)
					_, err := s.Record(ctx, []check.Result{r})
					assert.NoError(t, err)
				})
			}
			wg.Wait()
			got, err := s.GetService(ctx, sv.ID)
			require.NoError(t, err)
			require.Equal(t, check.StateDown, got.State.State, "the newest tick decides")
			require.Equal(t, newer.ScheduledAt, got.State.LastScheduledAt)

			trs, err := s.Transitions(ctx, registry.TransitionQuery{CheckID: sv.ID})
			require.NoError(t, err)
			// Older first: UNKNOWN->UP->DOWN is two changes; newer first:
			// UNKNOWN->DOWN and the late UP result is ignored.
			if newerFirst {
				require.Len(t, trs, 1)
				require.Equal(t, check.StateDown, trs[0].To)
			} else {
				require.Len(t, trs, 2)
				require.Equal(t, check.StateDown, trs[1].To)
			}
			res, _, err := s.Results(ctx, sv.ID, registry.ResultQuery{})
			require.NoError(t, err)
			require.Len(t, res, 2, "late results are still kept in the history")
		})
	}
}

func TestRecordBatchAppliesInTickOrder(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a := create(t, s, "a")
	b := create(t, s, "b")
	out, err := s.Record(ctx, []check.Result{
		result(a.ID, t0.Add(30*time.Second), true),
		result(b.ID, t0.Add(10*time.Second), false),
		result(a.ID, t0.Add(10*time.Second), false),
		result(a.ID, t0.Add(20*time.Second), false),
	})
	require.NoError(t, err)
	require.Equal(t, 4, out.Stored)
	var path []check.State
	for _, tr := range out.Transitions {
		if tr.CheckID == a.ID {
			path = append(path, tr.To)
		}
	}
	require.Equal(t, []check.State{check.StateDown, check.StateUp}, path)
	for i := 1; i < len(out.Transitions); i++ {
		require.Less(t, out.Transitions[i-1].ID, out.Transitions[i].ID)
	}
}

func TestThresholdsAreHonoured(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := newCheck("flaky")
	c.FailureThreshold = 3
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	var trs []check.Transition
	for i := 1; i <= 4; i++ {
		out, err := s.Record(ctx, []check.Result{result(sv.ID, t0.Add(time.Duration(i)*10*time.Second), i == 1)})
		require.NoError(t, err)
		trs = append(trs, out.Transitions...)
	}
	require.Len(t, trs, 2)
	require.Equal(t, check.StateUp, trs[0].To)
	require.Equal(t, check.StateDown, trs[1].To)
	require.Equal(t, t0.Add(40*time.Second), trs[1].ScheduledAt, "DOWN only on the third failure in a row")
	got, err := s.GetService(ctx, sv.ID)
	require.NoError(t, err)
	require.Equal(t, 3, got.State.ConsecutiveFailures)
}

func TestRecordDropsResultsOfPausedAndDeletedChecks(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	p := create(t, s, "paused")
	d := create(t, s, "deleted")
	_, _, err := s.SetPaused(ctx, p.ID, true)
	require.NoError(t, err)
	require.NoError(t, s.DeleteService(ctx, d.ID))
	out, err := s.Record(ctx, []check.Result{
		result(p.ID, t0.Add(10*time.Second), false),
		result(d.ID, t0.Add(10*time.Second), false),
		result("unknown", t0.Add(10*time.Second), false),
	})
	require.NoError(t, err)
	require.Equal(t, 3, out.Dropped)
	require.Zero(t, out.Stored)
	res, _, err := s.Results(ctx, p.ID, registry.ResultQuery{})
	require.NoError(t, err)
	require.Empty(t, res, "a job queued before the pause stores nothing after it")
}

func TestResultsPagingAndUptime(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	sv := create(t, s, "payments")
	var rs []check.Result
	for i := range 25 {
		rs = append(rs, result(sv.ID, t0.Add(time.Duration(i)*10*time.Second), i%5 != 0))
	}
	_, err := s.Record(ctx, rs)
	require.NoError(t, err)

	var (
		seen   []time.Time
		cursor string
	)
	for {
		page, next, err := s.Results(ctx, sv.ID, registry.ResultQuery{Limit: 10, Cursor: cursor})
		require.NoError(t, err)
		for _, r := range page {
			seen = append(seen, r.ScheduledAt)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, seen, 25)
	for i := 1; i < len(seen); i++ {
		require.True(t, seen[i].Before(seen[i-1]), "newest first, no repeats across pages")
	}

	win, _, err := s.Results(ctx, sv.ID, registry.ResultQuery{Since: t0.Add(50 * time.Second), Until: t0.Add(100 * time.Second)})
	require.NoError(t, err)
	require.Len(t, win, 6)
	require.Equal(t, 503, win[5].HTTPStatus)
	require.Equal(t, check.ResultDown, win[5].Status)
	require.NotEmpty(t, win[5].Error)

	_, _, err = s.Results(ctx, sv.ID, registry.ResultQuery{Cursor: "garbage!"})
	require.ErrorIs(t, err, registry.ErrInvalidCursor)

	u, err := s.Uptime(ctx, sv.ID, t0, t0.Add(250*time.Second))
	require.NoError(t, err)
	require.Equal(t, int64(25), u.Checks)
	require.Equal(t, int64(5), u.Failures)
	_, err = s.Uptime(ctx, sv.ID, t0, t0)
	require.Error(t, err)
}

func TestTransitionsQuery(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a := create(t, s, "a")
	b := create(t, s, "b")
	for i := range 4 {
		_, err := s.Record(ctx, []check.Result{
			result(a.ID, t0.Add(time.Duration(i+1)*10*time.Second), i%2 == 0),
			result(b.ID, t0.Add(time.Duration(i+1)*10*time.Second), i%2 == 1),
		})
		require.NoError(t, err)
	}
	all, err := s.Transitions(ctx, registry.TransitionQuery{})
	require.NoError(t, err)
	require.Len(t, all, 8)
	after, err := s.Transitions(ctx, registry.TransitionQuery{AfterID: all[5].ID})
	require.NoError(t, err)
	require.Equal(t, all[6:], after)
	newest, err := s.Transitions(ctx, registry.TransitionQuery{CheckID: a.ID, Newest: true, Limit: 2})
	require.NoError(t, err)
	require.Len(t, newest, 2)
	require.Greater(t, newest[0].ID, newest[1].ID)
	require.Equal(t, a.ID, newest[0].CheckID)
}

// A target's text that PostgreSQL refuses (NUL, invalid UTF-8) used to fail
// the whole batch it was recorded in, so the healthy results beside it were
// never stored either and their jobs were redelivered forever. Record cleans
// it, whatever the prober did.
func TestRecordCleansHostileErrorText(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	tick := t0.Add(10 * time.Second)
	var batch []check.Result
	for i := range 10 {
		batch = append(batch, result(create(t, s, fmt.Sprintf("healthy-%d", i)).ID, tick, true))
	}
	bad := create(t, s, "hostile")
	poison := result(bad.ID, tick, false)
	poison.Error = "grpc health: Internal: db\x00down \xff\n" + strings.Repeat("x", 4<<10)
	batch = append(batch, poison)

	out, err := s.Record(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, len(batch), out.Stored, "every result of the batch is stored")
	require.Len(t, out.Transitions, len(batch))

	const wantPrefix = "grpc health: Internal: dbdown \uFFFD xxx"
	requireClean := func(what, got string) {
		t.Helper()
		require.True(t, strings.HasPrefix(got, wantPrefix), "%s: %q", what, got)
		require.False(t, check.HasControl(got), "%s: %q", what, got)
		require.LessOrEqual(t, len(got), check.MaxErrorBytes, what)
	}
	res, _, err := s.Results(ctx, bad.ID, registry.ResultQuery{})
	require.NoError(t, err)
	require.Len(t, res, 1)
	requireClean("stored result", res[0].Error)
	sv, err := s.GetService(ctx, bad.ID)
	require.NoError(t, err)
	requireClean("state", sv.State.LastError)
	logged, err := s.Transitions(ctx, registry.TransitionQuery{CheckID: bad.ID})
	require.NoError(t, err)
	require.Len(t, logged, 1)
	requireClean("logged transition", logged[0].Error)
	for _, tr := range out.Transitions {
		if tr.CheckID == bad.ID {
			require.Equal(t, logged[0].Error, tr.Error, "what is published is what is stored")
		}
	}
	for _, r := range batch[:10] {
		got, _, err := s.Results(ctx, r.CheckID, registry.ResultQuery{})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, check.ResultUp, got[0].Status)
	}
}
