package check_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func foldResult(id string, tick int, up bool) check.Result {
	r := res(tick, up)
	r.CheckID = id
	return r
}

func TestInTickOrder(t *testing.T) {
	in := []check.Result{foldResult("b", 2, true), foldResult("a", 3, true), foldResult("b", 1, false), foldResult("a", 1, true)}
	got := check.InTickOrder(in)
	require.Equal(t, []check.Result{in[3], in[1], in[2], in[0]}, got)
	require.Equal(t, "b", in[0].CheckID, "the batch itself is left as it came")
	require.Equal(t, []string{"a", "b"}, check.IDsOf(got))
}

func TestAdmit(t *testing.T) {
	checks := map[string]check.Tracked{
		"live":    {Service: "live"},
		"paused":  {Service: "paused", Paused: true},
		"deleted": {Service: "deleted", Deleted: true},
	}
	in := []check.Result{foldResult("deleted", 1, true), foldResult("live", 1, true), foldResult("paused", 1, true),
		foldResult("unknown", 1, true), foldResult("live", 2, false)}
	keep, dropped := check.Admit(in, checks)
	require.Equal(t, []check.Result{in[1], in[4]}, keep)
	require.Equal(t, 3, dropped)
}

func TestFold(t *testing.T) {
	up := check.Snapshot{State: check.StateUp, ConsecutiveSuccesses: 3, LastScheduledAt: t0}
	unknown := check.Snapshot{State: check.StateUnknown, LastScheduledAt: t0}
	one := check.Thresholds{Failure: 1, Success: 1}
	all := func(check.Result) bool { return true }
	transition := func(id string, from, to check.State, r check.Result) check.Transition {
		return check.Transition{CheckID: id, Service: id + "-svc", From: from, To: to, At: r.CheckedAt,
			Latency: r.Latency, Error: r.Error, ScheduledAt: r.ScheduledAt}
	}
	tests := []struct {
		name    string
		checks  map[string]check.Tracked
		results []check.Result
		fresh   func(check.Result) bool
		// wantStates lists the checks whose snapshot changes, with the
		// state they end in.
		wantStates      map[string]check.State
		wantTransitions func(rs []check.Result) []check.Transition
		wantRepeated    func(rs []check.Result) []check.Result
	}{
		{
			name:       "a result of the same state only updates the snapshot",
			checks:     map[string]check.Tracked{"a": {Service: "a-svc", Snapshot: up, Thresholds: one}},
			results:    []check.Result{foldResult("a", 1, true)},
			fresh:      all,
			wantStates: map[string]check.State{"a": check.StateUp},
		},
		{
			name:       "a change of state is a transition from the state before",
			checks:     map[string]check.Tracked{"a": {Service: "a-svc", Snapshot: up, Thresholds: one}},
			results:    []check.Result{foldResult("a", 1, false)},
			fresh:      all,
			wantStates: map[string]check.State{"a": check.StateDown},
			wantTransitions: func(rs []check.Result) []check.Transition {
				return []check.Transition{transition("a", check.StateUp, check.StateDown, rs[0])}
			},
		},
		{
			name:       "results of one check fold in order, each from the last",
			checks:     map[string]check.Tracked{"a": {Service: "a-svc", Snapshot: unknown, Thresholds: one}},
			results:    []check.Result{foldResult("a", 1, true), foldResult("a", 2, false), foldResult("a", 3, false)},
			fresh:      all,
			wantStates: map[string]check.State{"a": check.StateDown},
			wantTransitions: func(rs []check.Result) []check.Transition {
				return []check.Transition{
					transition("a", check.StateUnknown, check.StateUp, rs[0]),
					transition("a", check.StateUp, check.StateDown, rs[1]),
				}
			},
		},
		{
			name:       "thresholds count across the batch",
			checks:     map[string]check.Tracked{"a": {Service: "a-svc", Snapshot: up, Thresholds: check.Thresholds{Failure: 2, Success: 1}}},
			results:    []check.Result{foldResult("a", 1, false), foldResult("a", 2, false)},
			fresh:      all,
			wantStates: map[string]check.State{"a": check.StateDown},
			wantTransitions: func(rs []check.Result) []check.Transition {
				return []check.Transition{transition("a", check.StateUp, check.StateDown, rs[1])}
			},
		},
		{
			name:         "a result recorded before moves nothing and is handed back",
			checks:       map[string]check.Tracked{"a": {Service: "a-svc", Snapshot: up, Thresholds: one}},
			results:      []check.Result{foldResult("a", 1, false)},
			fresh:        func(check.Result) bool { return false },
			wantStates:   map[string]check.State{},
			wantRepeated: func(rs []check.Result) []check.Result { return rs },
		},
		{
			name:       "a result not newer than the state changes nothing",
			checks:     map[string]check.Tracked{"a": {Service: "a-svc", Snapshot: up, Thresholds: one}},
			results:    []check.Result{foldResult("a", 0, false)},
			fresh:      all,
			wantStates: map[string]check.State{},
		},
		{
			name: "checks fold independently",
			checks: map[string]check.Tracked{
				"a": {Service: "a-svc", Snapshot: up, Thresholds: one},
				"b": {Service: "b-svc", Snapshot: unknown, Thresholds: one},
			},
			results:    []check.Result{foldResult("a", 1, true), foldResult("b", 1, false), foldResult("b", 2, false)},
			fresh:      func(r check.Result) bool { return r.CheckID == "a" || r.ScheduledAt.Equal(t0.Add(2*time.Second)) },
			wantStates: map[string]check.State{"a": check.StateUp, "b": check.StateDown},
			wantTransitions: func(rs []check.Result) []check.Transition {
				return []check.Transition{transition("b", check.StateUnknown, check.StateDown, rs[2])}
			},
			wantRepeated: func(rs []check.Result) []check.Result { return rs[1:2] },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check.Fold(tt.results, tt.checks, tt.fresh)
			states := map[string]check.State{}
			for id, s := range got.States {
				states[id] = s.State
			}
			require.Equal(t, tt.wantStates, states)
			var wantT []check.Transition
			if tt.wantTransitions != nil {
				wantT = tt.wantTransitions(tt.results)
			}
			require.Equal(t, wantT, got.Transitions)
			var wantR []check.Result
			if tt.wantRepeated != nil {
				wantR = tt.wantRepeated(tt.results)
			}
			require.Equal(t, wantR, got.Repeated)
			for id, s := range got.States {
				last := tt.results[0]
				for _, r := range tt.results {
					if r.CheckID == id && tt.fresh(r) {
						last = r
					}
				}
				require.Equal(t, last.ScheduledAt, s.LastScheduledAt, "%s remembers its newest fresh tick", id)
			}
		})
	}
}
