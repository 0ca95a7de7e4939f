package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// TestClaimDueFansOutOverRegions: a tick of a check with regions is one job
// per region; a check without regions still gets one job without a region.
func TestClaimDueFansOutOverRegions(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	plain := create(t, s, "plain")
	c := newCheck("multi")
	c.Regions, c.Quorum = []string{"eu", "us", "ap"}, 2
	multi, err := s.CreateService(ctx, c)
	require.NoError(t, err)

	var got []check.Job
	n, err := s.ClaimDue(ctx, t0.Add(10*time.Second), 100, 0, func(_ context.Context, jobs []check.Job, _ int) error {
		got = append(got, jobs...)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 4, n)
	regions := map[string][]string{}
	for _, j := range got {
		regions[j.CheckID] = append(regions[j.CheckID], j.Region)
	}
	require.Equal(t, []string{""}, regions[plain.ID])
	require.Equal(t, []string{"eu", "us", "ap"}, regions[multi.ID])

	// A region taken off the check gets no more of its jobs.
	_, err = s.UpdateService(ctx, multi.ID, func(c *check.Check) error {
		c.Regions, c.Quorum = []string{"eu"}, 1
		return nil
	})
	require.NoError(t, err)
	got = nil
	_, err = s.ClaimDue(ctx, t0.Add(20*time.Second), 100, 0, func(_ context.Context, jobs []check.Job, _ int) error {
		got = append(got, jobs...)
		return nil
	})
	require.NoError(t, err)
	var left []string
	for _, j := range got {
		if j.CheckID == multi.ID {
			left = append(left, j.Region)
		}
	}
	require.Equal(t, []string{"eu"}, left)
}

// TestRecordKeepsEachRegionsResult: the results of one tick from several
// regions are all stored, each once however often it is redelivered.
func TestRecordKeepsEachRegionsResult(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := newCheck("multi")
	c.Regions, c.Quorum = []string{"eu", "us"}, 1
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	tick := t0.Add(10 * time.Second)
	eu, us := result(sv.ID, tick, true), result(sv.ID, tick, false)
	eu.Region, us.Region = "eu", "us"

	out, err := s.Record(ctx, []check.Result{eu, us})
	require.NoError(t, err)
	require.Equal(t, 2, out.Stored)
	again, err := s.Record(ctx, []check.Result{us, eu})
	require.NoError(t, err)
	require.Zero(t, again.Stored)

	var regions []string
	require.NoError(t, s.QueryRow(ctx,
		`SELECT array_agg(region ORDER BY region) FROM check_results WHERE check_id = $1`, sv.ID).Scan(&regions))
	require.Equal(t, []string{"eu", "us"}, regions)

	plain := create(t, s, "plain")
	_, err = s.Record(ctx, []check.Result{result(plain.ID, tick, true)})
	require.NoError(t, err)
	var region string
	require.NoError(t, s.QueryRow(ctx,
		`SELECT region FROM check_results WHERE check_id = $1`, plain.ID).Scan(&region))
	require.Equal(t, check.DefaultRegion, region, "a check without regions records under the default region")
}

// TestRecordVotesAcrossRegions: each region keeps its own state in the
// store between batches, the check's state is their vote, and the
// transition names every region's state.
func TestRecordVotesAcrossRegions(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := newCheck("multi")
	c.Regions, c.Quorum = []string{"eu", "us", "ap"}, 2
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	tick := func(n int, ups map[string]bool) []check.Transition {
		t.Helper()
		var rs []check.Result
		for region, up := range ups {
			r := result(sv.ID, t0.Add(time.Duration(n)*10*time.Second), up)
			r.Region = region
			rs = append(rs, r)
		}
		out, err := s.Record(ctx, rs)
		require.NoError(t, err)
		return out.Transitions
	}
	ts := tick(1, map[string]bool{"eu": true, "us": true, "ap": true})
	require.Len(t, ts, 1)
	require.Equal(t, check.StateUp, ts[0].To)

	require.Empty(t, tick(2, map[string]bool{"eu": false, "us": true, "ap": true}), "one region is no quorum")
	// Batches of one result each: the regions' states live in the store.
	require.Empty(t, tick(3, map[string]bool{"eu": false}))
	ts = tick(3, map[string]bool{"us": false})
	require.Len(t, ts, 1)
	require.Equal(t, check.StateDown, ts[0].To)
	require.Equal(t, "us", ts[0].Region)
	require.Equal(t, map[string]check.State{"eu": check.StateDown, "us": check.StateDown, "ap": check.StateUp}, ts[0].Regions)

	got, err := s.GetService(ctx, sv.ID)
	require.NoError(t, err)
	require.Equal(t, check.StateDown, got.State.State)
	logged, err := s.Transitions(ctx, registry.TransitionQuery{CheckID: sv.ID})
	require.NoError(t, err)
	require.Equal(t, ts[0].Regions, logged[len(logged)-1].Regions, "the log keeps the regions' states")

	// A redelivered result hands back the transition it caused, found by
	// its region too.
	r := result(sv.ID, t0.Add(30*time.Second), false)
	r.Region = "us"
	again, err := s.Record(ctx, []check.Result{r})
	require.NoError(t, err)
	require.Zero(t, again.Stored)
	require.Equal(t, ts, again.Transitions)

	// A pause forgets the regions' states: after the resume they decide
	// afresh, and one region's DOWN result does not find the old ones.
	_, _, err = s.SetPaused(ctx, sv.ID, true)
	require.NoError(t, err)
	_, _, err = s.SetPaused(ctx, sv.ID, false)
	require.NoError(t, err)
	var n int
	require.NoError(t, s.QueryRow(ctx, `SELECT count(*) FROM check_region_state WHERE check_id = $1`, sv.ID).Scan(&n))
	require.Zero(t, n)
}

// TestMigrateRegionsKeepsExistingResults: migration 0012 swaps the results
// key on an install that has results, including the legacy partition of
// migration 0003, and a redelivered old result is still a no-op after it.
func TestMigrateRegionsKeepsExistingResults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open(ctx, pgtest.Schema(t), 4, store.WithClock(func() time.Time { return t0 }))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.MigrateTo(ctx, 2)
	require.NoError(t, err)
	// A check and a result as an install of that schema has them; the
	// result makes migration 0003 keep the table as the legacy partition.
	tick := t0.Add(10 * time.Second)
	for _, q := range []string{
		`INSERT INTO services (id, name, type, url, interval_ms, timeout_ms, failure_threshold,
			success_threshold, created_at, updated_at) VALUES ('old', 'old', 'http', 'http://x', 10000, 5000, 1, 1, $1, $1)`,
		`INSERT INTO check_state (check_id, state) VALUES ('old', 'UNKNOWN')`,
		`INSERT INTO check_results (check_id, scheduled_at, checked_at, success, latency_us)
			VALUES ('old', $1, $1, true, 1000)`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, tick)
		}
		_, err = s.Exec(ctx, q, args...)
		require.NoError(t, err)
	}
	_, err = s.MigrateTo(ctx, 11)
	require.NoError(t, err)
	var legacy bool
	require.NoError(t, s.QueryRow(ctx, `SELECT to_regclass('check_results_legacy') IS NOT NULL`).Scan(&legacy))
	require.True(t, legacy)
	old := result("old", tick, true)

	n, err := s.Migrate(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	again, err := s.Record(ctx, []check.Result{old})
	require.NoError(t, err)
	require.Zero(t, again.Stored, "the old result is the default region's")
	eu := result("old", tick, false)
	eu.Region = "eu"
	out, err := s.Record(ctx, []check.Result{eu})
	require.NoError(t, err)
	require.Equal(t, 1, out.Stored, "another region's result of the same tick is a row of its own")
	var region string
	require.NoError(t, s.QueryRow(ctx, `SELECT region FROM check_results WHERE check_id = 'old' AND success`).Scan(&region))
	require.Equal(t, check.DefaultRegion, region)
}

// TestResultsPageThroughRegions: pages of a check with regions may end
// inside a tick, and the next page carries on with that tick's other
// regions: every result is read exactly once.
func TestResultsPageThroughRegions(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	c := newCheck("multi")
	c.Regions, c.Quorum = []string{"eu", "us", "ap"}, 2
	sv, err := s.CreateService(ctx, c)
	require.NoError(t, err)
	var rs []check.Result
	for n := 1; n <= 4; n++ {
		for _, region := range c.Regions {
			r := result(sv.ID, t0.Add(time.Duration(n)*10*time.Second), true)
			r.Region = region
			rs = append(rs, r)
		}
	}
	_, err = s.Record(ctx, rs)
	require.NoError(t, err)

	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, next, err := s.Results(ctx, sv.ID, registry.ResultQuery{Limit: 5, Cursor: cursor})
		require.NoError(t, err)
		for _, r := range page {
			key := r.ScheduledAt.String() + "@" + r.Region
			require.False(t, seen[key], "%s read twice", key)
			seen[key] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, seen, 12)
}
