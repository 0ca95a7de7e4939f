package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// createRegions registers a check probed from regions with quorum.
func createRegions(t *testing.T, s *store.Store, name string, quorum int, regions ...string) registry.Service {
	t.Helper()
	c := newCheck(name)
	c.Regions, c.Quorum = regions, quorum
	sv, err := s.CreateService(context.Background(), c)
	require.NoError(t, err)
	return sv
}

// recordRegion records one result of region for tick n (of the 10 s
// interval newCheck gives) and returns the transitions it caused.
func recordRegion(t *testing.T, s *store.Store, id, region string, n int, up bool) []check.Transition {
	t.Helper()
	r := result(id, t0.Add(time.Duration(n)*10*time.Second), up)
	r.Region = region
	out, err := s.Record(context.Background(), []check.Result{r})
	require.NoError(t, err)
	require.Equal(t, 1, out.Stored)
	return out.Transitions
}

// TestServicesCarryRegionStates: a service read one at a time, by page or
// as a list carries its regions' snapshots, from which the vote's rule
// gives each listed region's state; a service without regions carries
// none.
func TestServicesCarryRegionStates(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	plain := create(t, s, "a-plain")
	multi := createRegions(t, s, "b-multi", 2, "eu", "us", "ap")
	recordRegion(t, s, plain.ID, "", 1, true)
	recordRegion(t, s, multi.ID, "us", 1, false)
	for n := 1; n <= 5; n++ {
		recordRegion(t, s, multi.ID, "eu", n, true)
	}
	// us last sent tick 1, four intervals behind eu's tick 5: stale.
	want := map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown, "ap": check.StateUnknown}

	got, err := s.GetService(ctx, multi.ID)
	require.NoError(t, err)
	require.Len(t, got.RegionStates, 2, "ap has sent nothing")
	require.Equal(t, check.StateDown, got.RegionStates["us"].State, "the snapshot is the region's own")
	require.Equal(t, want, check.CountedRegions(got.Regions, got.RegionStates, got.Interval))
	got, err = s.GetService(ctx, plain.ID)
	require.NoError(t, err)
	require.Nil(t, got.RegionStates)

	page, _, err := s.PageServices(ctx, registry.ServiceQuery{})
	require.NoError(t, err)
	require.Len(t, page, 2)
	require.Nil(t, page[0].RegionStates)
	require.Equal(t, want, check.CountedRegions(page[1].Regions, page[1].RegionStates, page[1].Interval))
	all, err := s.ListServices(ctx, registry.ListFilter{})
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Nil(t, all[0].RegionStates)
	require.Equal(t, page[1].RegionStates, all[1].RegionStates)
}

// TestCountRegionStates: the gauge's grouped query counts what the vote's
// rule, applied to each service's snapshots, says; paused, deleted and
// single-region checks are not counted.
func TestCountRegionStates(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	fresh := createRegions(t, s, "fresh", 1, "eu", "us")
	recordRegion(t, s, fresh.ID, "eu", 1, true)
	recordRegion(t, s, fresh.ID, "us", 1, false)
	stale := createRegions(t, s, "stale", 1, "eu", "us", "ap")
	recordRegion(t, s, stale.ID, "us", 1, false)
	recordRegion(t, s, stale.ID, "eu", 4, true) // three intervals ahead: us still counts
	recordRegion(t, s, stale.ID, "eu", 5, true) // four: us is stale
	// A region taken off the check still moves newest, as in the vote.
	moved := createRegions(t, s, "moved", 1, "eu", "gone")
	recordRegion(t, s, moved.ID, "eu", 1, false)
	recordRegion(t, s, moved.ID, "gone", 9, true)
	_, err := s.UpdateService(ctx, moved.ID, func(c *check.Check) error {
		c.Regions, c.Quorum = []string{"eu", "us"}, 1
		return nil
	})
	require.NoError(t, err)
	paused := createRegions(t, s, "paused", 1, "eu")
	recordRegion(t, s, paused.ID, "eu", 1, true)
	_, _, err = s.SetPaused(ctx, paused.ID, true)
	require.NoError(t, err)
	deleted := createRegions(t, s, "deleted", 1, "eu")
	recordRegion(t, s, deleted.ID, "eu", 1, true)
	require.NoError(t, s.DeleteService(ctx, deleted.ID))
	plain := create(t, s, "plain")
	recordRegion(t, s, plain.ID, "", 1, false)

	got, err := s.CountRegionStates(ctx)
	require.NoError(t, err)
	count := func(cs []registry.RegionCount) map[string]map[check.State]int64 {
		out := map[string]map[check.State]int64{}
		for _, c := range cs {
			if out[c.Region] == nil {
				out[c.Region] = map[check.State]int64{}
			}
			out[c.Region][c.State] += c.Checks
		}
		return out
	}
	require.Equal(t, map[string]map[check.State]int64{
		"eu": {check.StateUp: 2, check.StateUnknown: 1},   // fresh, stale; moved is stale behind gone
		"us": {check.StateDown: 1, check.StateUnknown: 2}, // fresh; stale is stale, moved has none
		"ap": {check.StateUnknown: 1},
	}, count(got))

	// The same, from the vote's own rule over what the services carry.
	svcs, err := s.ListServices(ctx, registry.ListFilter{})
	require.NoError(t, err)
	var byRule []registry.RegionCount
	for _, sv := range svcs {
		if sv.Paused {
			continue
		}
		for region, st := range check.CountedRegions(sv.Regions, sv.RegionStates, sv.Interval) {
			byRule = append(byRule, registry.RegionCount{Region: region, State: st, Checks: 1})
		}
	}
	require.Equal(t, count(byRule), count(got))
}

// TestResultsOfOneRegion: ?region= keeps one region's results, and paging
// through them with its cursor reads each exactly once.
func TestResultsOfOneRegion(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	multi := createRegions(t, s, "multi", 2, "eu", "us", "ap")
	var rs []check.Result
	for n := 1; n <= 7; n++ {
		for _, region := range multi.Regions {
			r := result(multi.ID, t0.Add(time.Duration(n)*10*time.Second), region != "us")
			r.Region = region
			rs = append(rs, r)
		}
	}
	_, err := s.Record(ctx, rs)
	require.NoError(t, err)

	var ticks []time.Time
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, next, err := s.Results(ctx, multi.ID, registry.ResultQuery{Limit: 3, Cursor: cursor, Region: "us"})
		require.NoError(t, err)
		for _, r := range page {
			require.Equal(t, "us", r.Region)
			require.Equal(t, check.ResultDown, r.Status)
			ticks = append(ticks, r.ScheduledAt)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, ticks, 7)
	for i := 1; i < len(ticks); i++ {
		require.True(t, ticks[i].Before(ticks[i-1]), "newest first, each tick once")
	}

	none, next, err := s.Results(ctx, multi.ID, registry.ResultQuery{Region: "zz"})
	require.NoError(t, err)
	require.Empty(t, none, "a region the check does not list has no results")
	require.Empty(t, next)

	plain := create(t, s, "plain")
	recordRegion(t, s, plain.ID, "", 1, true)
	got, _, err := s.Results(ctx, plain.ID, registry.ResultQuery{Region: check.DefaultRegion})
	require.NoError(t, err)
	require.Len(t, got, 1, "a check without regions records under the default region")
	got, _, err = s.Results(ctx, plain.ID, registry.ResultQuery{Region: "eu"})
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestTransitionsOfOneRegion: ?region= keeps the transitions that region's
// results caused; pauses and resumes are caused by none.
func TestTransitionsOfOneRegion(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	multi := createRegions(t, s, "multi", 1, "eu", "us")
	require.Len(t, recordRegion(t, s, multi.ID, "eu", 1, true), 1)  // UNKNOWN -> UP
	require.Len(t, recordRegion(t, s, multi.ID, "us", 2, false), 1) // UP -> DOWN
	require.Len(t, recordRegion(t, s, multi.ID, "us", 3, true), 1)  // DOWN -> UP
	_, _, err := s.SetPaused(ctx, multi.ID, true)
	require.NoError(t, err)

	of := func(id, region string) []check.Transition {
		t.Helper()
		ts, err := s.Transitions(ctx, registry.TransitionQuery{CheckID: id, Region: region, Newest: true})
		require.NoError(t, err)
		return ts
	}
	require.Len(t, of(multi.ID, ""), 4)
	eu := of(multi.ID, "eu")
	require.Len(t, eu, 1)
	require.Equal(t, check.StateUp, eu[0].To)
	require.Equal(t, map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown}, eu[0].Regions)
	us := of(multi.ID, "us")
	require.Len(t, us, 2)
	require.Equal(t, []check.State{check.StateUp, check.StateDown}, []check.State{us[0].To, us[1].To}, "newest first")
	require.Empty(t, of(multi.ID, check.DefaultRegion), "a pause is no region's")
	require.Empty(t, of(multi.ID, "zz"))

	plain := create(t, s, "plain")
	require.Len(t, recordRegion(t, s, plain.ID, "", 1, true), 1)
	_, _, err = s.SetPaused(ctx, plain.ID, true)
	require.NoError(t, err)
	require.Len(t, of(plain.ID, check.DefaultRegion), 1)
	require.Empty(t, of(plain.ID, "eu"))
}

// TestResultsPageThroughTheDefaultRegion: a check may list the default
// region beside others; a page that ends on its result of a tick must not
// skip the tick's regions ordered below "default".
func TestResultsPageThroughTheDefaultRegion(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	multi := createRegions(t, s, "multi", 1, "ap", check.DefaultRegion, "eu")
	for n := 1; n <= 3; n++ {
		for _, region := range multi.Regions {
			recordRegion(t, s, multi.ID, region, n, true)
		}
	}
	for _, limit := range []int{1, 2, 4} {
		seen := map[string]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 20)
			page, next, err := s.Results(ctx, multi.ID, registry.ResultQuery{Limit: limit, Cursor: cursor})
			require.NoError(t, err)
			for _, r := range page {
				key := r.ScheduledAt.String() + "@" + r.Region
				require.False(t, seen[key], "limit %d: %s read twice", limit, key)
				seen[key] = true
			}
			if next == "" {
				break
			}
			cursor = next
		}
		require.Len(t, seen, 9, "limit %d", limit)
	}
}
