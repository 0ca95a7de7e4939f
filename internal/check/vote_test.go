package check_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestVote(t *testing.T) {
	now := time.Unix(1_700_000_000, 0).UTC()
	stale := 30 * time.Second
	at := func(st check.State, ago time.Duration) check.Snapshot {
		return check.Snapshot{State: st, LastScheduledAt: now.Add(-ago)}
	}
	up, down, unknown := check.StateUp, check.StateDown, check.StateUnknown
	abc := []string{"a", "b", "c"}
	tests := []struct {
		name    string
		regions []string
		quorum  int
		states  map[string]check.Snapshot
		want    check.State
		seen    map[string]check.State
	}{
		{"all up", abc, 2, map[string]check.Snapshot{"a": at(up, 0), "b": at(up, 0), "c": at(up, 0)},
			up, map[string]check.State{"a": up, "b": up, "c": up}},
		{"one region down stays up", abc, 2, map[string]check.Snapshot{"a": at(down, 0), "b": at(up, 0), "c": at(up, 0)},
			up, map[string]check.State{"a": down, "b": up, "c": up}},
		{"quorum down is down", abc, 2, map[string]check.Snapshot{"a": at(down, 0), "b": at(down, 0), "c": at(up, 0)},
			down, map[string]check.State{"a": down, "b": down, "c": up}},
		{"quorum one: any region down", abc, 1, map[string]check.Snapshot{"a": at(up, 0), "b": at(down, 0), "c": at(up, 0)},
			down, map[string]check.State{"a": up, "b": down, "c": up}},
		{"quorum all needs all", abc, 3, map[string]check.Snapshot{"a": at(down, 0), "b": at(down, 0), "c": at(up, 0)},
			up, map[string]check.State{"a": down, "b": down, "c": up}},
		{"no results yet", abc, 2, nil,
			unknown, map[string]check.State{"a": unknown, "b": unknown, "c": unknown}},
		{"a stale down region does not count", abc, 2,
			map[string]check.Snapshot{"a": at(down, 0), "b": at(down, stale+time.Second), "c": at(up, 0)},
			up, map[string]check.State{"a": down, "b": unknown, "c": up}},
		{"at the stale bound it still counts", abc, 2,
			map[string]check.Snapshot{"a": at(down, 0), "b": at(down, stale), "c": at(up, 0)},
			down, map[string]check.State{"a": down, "b": down, "c": up}},
		{"down without quorum and nothing up", abc, 2, map[string]check.Snapshot{"a": at(down, 0)},
			unknown, map[string]check.State{"a": down, "b": unknown, "c": unknown}},
		{"a region still deciding is unknown", abc, 2,
			map[string]check.Snapshot{"a": at(unknown, 0), "b": at(down, 0), "c": at(down, 0)},
			down, map[string]check.State{"a": unknown, "b": down, "c": down}},
		{"a removed region counts for nothing", []string{"a", "b"}, 1,
			map[string]check.Snapshot{"a": at(up, 0), "b": at(up, 0), "gone": at(down, 0)},
			up, map[string]check.State{"a": up, "b": up}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, seen := check.Vote(tt.regions, tt.quorum, tt.states, now, stale)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.seen, seen)
		})
	}
}

// TestFoldVotesAcrossRegions runs ticks of a check probed from three
// regions (quorum 2, two failures in a row make a region DOWN) through
// Fold, one batch per tick, carrying the state over as a store would.
func TestFoldVotesAcrossRegions(t *testing.T) {
	c := check.Tracked{Service: "pay", Thresholds: check.Thresholds{Failure: 2, Success: 1},
		Regions: []string{"a", "b", "c"}, Quorum: 2, Interval: time.Second}
	run := func(tick int, ups map[string]bool) []check.Transition {
		t.Helper()
		var rs []check.Result
		for _, region := range []string{"a", "b", "c"} {
			up, ok := ups[region]
			if !ok {
				continue // this region sent nothing for the tick
			}
			r := foldResult("x", tick, up)
			r.Region = region
			rs = append(rs, r)
		}
		f := check.Fold(rs, map[string]check.Tracked{"x": c}, func(check.Result) bool { return true })
		if s, ok := f.States["x"]; ok {
			c.Snapshot = s
		}
		if rs, ok := f.RegionStates["x"]; ok {
			c.RegionStates = rs
		}
		return f.Transitions
	}
	all := func(a, b, cc bool) map[string]bool { return map[string]bool{"a": a, "b": b, "c": cc} }

	ts := run(1, all(true, true, true))
	require.Len(t, ts, 1, "the first UP region decides UP")
	require.Equal(t, check.StateUp, ts[0].To)
	require.Equal(t, map[string]check.State{"a": check.StateUp, "b": check.StateUnknown, "c": check.StateUnknown}, ts[0].Regions)
	require.Equal(t, "a", ts[0].Region)

	// Region a loses the target: DOWN there after two failures, but one
	// region is not a quorum.
	require.Empty(t, run(2, all(false, true, true)))
	require.Empty(t, run(3, all(false, true, true)))
	require.Equal(t, check.StateDown, c.RegionStates["a"].State)
	require.Equal(t, check.StateUp, c.Snapshot.State)

	// Region b loses it too: its second failure makes the quorum.
	require.Empty(t, run(4, all(false, false, true)))
	ts = run(5, all(false, false, true))
	require.Len(t, ts, 1)
	require.Equal(t, check.StateUp, ts[0].From)
	require.Equal(t, check.StateDown, ts[0].To)
	require.Equal(t, "b", ts[0].Region)
	require.Equal(t, map[string]check.State{"a": check.StateDown, "b": check.StateDown, "c": check.StateUp}, ts[0].Regions)

	// Region b's workers go away: after StaleTicks intervals without its
	// results it no longer counts, and one DOWN region is not a quorum.
	require.Empty(t, run(6, map[string]bool{"a": false, "c": true}))
	require.Empty(t, run(8, map[string]bool{"a": false, "c": true}))
	ts = run(9, map[string]bool{"a": false, "c": true})
	require.Len(t, ts, 1)
	require.Equal(t, check.StateUp, ts[0].To)
	require.Equal(t, check.StateUnknown, ts[0].Regions["b"])

	// A result of a region the check no longer lists moves nothing.
	stray := foldResult("x", 10, false)
	stray.Region = "gone"
	f := check.Fold([]check.Result{stray}, map[string]check.Tracked{"x": c}, func(check.Result) bool { return true })
	require.Empty(t, f.States)
	require.Empty(t, f.Transitions)
}

// TestCounted is the per-region rule the vote, the API's region_states and
// the vigil_region_checks gauge share.
func TestCounted(t *testing.T) {
	newest := time.Unix(1_700_000_000, 0).UTC()
	stale := 30 * time.Second
	at := func(st check.State, ago time.Duration) check.Snapshot {
		return check.Snapshot{State: st, LastScheduledAt: newest.Add(-ago)}
	}
	tests := []struct {
		name   string
		snap   check.Snapshot
		ok     bool
		newest time.Time
		want   check.State
	}{
		{"no snapshot", check.Snapshot{}, false, newest, check.StateUnknown},
		{"a snapshot without a state", check.Snapshot{LastScheduledAt: newest}, true, newest, check.StateUnknown},
		{"the newest region", at(check.StateDown, 0), true, newest, check.StateDown},
		{"a tick behind", at(check.StateUp, 10*time.Second), true, newest, check.StateUp},
		{"at the stale bound", at(check.StateDown, stale), true, newest, check.StateDown},
		{"past the stale bound", at(check.StateDown, stale+time.Microsecond), true, newest, check.StateUnknown},
		{"past the bound while up", at(check.StateUp, time.Hour), true, newest, check.StateUnknown},
		{"still deciding", at(check.StateUnknown, 0), true, newest, check.StateUnknown},
		{"no region has a tick", check.Snapshot{State: check.StateUp}, true, time.Time{}, check.StateUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, check.Counted(tt.snap, tt.ok, tt.newest, stale))
		})
	}
}

func TestCountedRegions(t *testing.T) {
	newest := time.Unix(1_700_000_000, 0).UTC()
	at := func(st check.State, ago time.Duration) check.Snapshot {
		return check.Snapshot{State: st, LastScheduledAt: newest.Add(-ago)}
	}
	up, down, unknown := check.StateUp, check.StateDown, check.StateUnknown
	tests := []struct {
		name     string
		regions  []string
		states   map[string]check.Snapshot
		interval time.Duration
		want     map[string]check.State
	}{
		{"no regions", nil, map[string]check.Snapshot{"eu": at(up, 0)}, 10 * time.Second, nil},
		{"nothing sent yet", []string{"eu", "us"}, nil, 10 * time.Second,
			map[string]check.State{"eu": unknown, "us": unknown}},
		{"fresh regions", []string{"eu", "us"}, map[string]check.Snapshot{"eu": at(up, 0), "us": at(down, 10*time.Second)},
			10 * time.Second, map[string]check.State{"eu": up, "us": down}},
		{"three intervals behind still counts", []string{"eu", "us"},
			map[string]check.Snapshot{"eu": at(up, 0), "us": at(down, 30*time.Second)},
			10 * time.Second, map[string]check.State{"eu": up, "us": down}},
		{"four intervals behind is stale", []string{"eu", "us"},
			map[string]check.Snapshot{"eu": at(up, 0), "us": at(down, 40*time.Second)},
			10 * time.Second, map[string]check.State{"eu": up, "us": unknown}},
		{"the interval's floor is MinInterval", []string{"eu", "us"},
			map[string]check.Snapshot{"eu": at(up, 0), "us": at(down, 3*check.MinInterval)},
			time.Millisecond, map[string]check.State{"eu": up, "us": down}},
		{"a removed region's tick still sets newest", []string{"eu"},
			map[string]check.Snapshot{"eu": at(up, 40*time.Second), "gone": at(down, 0)},
			10 * time.Second, map[string]check.State{"eu": unknown}},
		{"a listed region without a snapshot", []string{"eu", "ap"}, map[string]check.Snapshot{"eu": at(down, 0)},
			10 * time.Second, map[string]check.State{"eu": down, "ap": unknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, check.CountedRegions(tt.regions, tt.states, tt.interval))
		})
	}
}
