package check_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func res(tick int, up bool) check.Result {
	r := check.Result{ScheduledAt: t0.Add(time.Duration(tick) * time.Second), Status: check.ResultDown, Error: "boom"}
	r.CheckedAt = r.ScheduledAt.Add(time.Millisecond)
	if up {
		r.Status, r.Error = check.ResultUp, ""
	}
	return r
}

func TestApply(t *testing.T) {
	type step struct {
		tick    int
		up      bool
		want    check.State
		changed bool
	}
	tests := []struct {
		name  string
		start check.State
		th    check.Thresholds
		steps []step
	}{
		{"unknown to up", check.StateUnknown, check.Thresholds{1, 1}, []step{{1, true, check.StateUp, true}}},
		{"unknown to down", check.StateUnknown, check.Thresholds{1, 1}, []step{{1, false, check.StateDown, true}}},
		{"empty state is unknown", "", check.Thresholds{}, []step{{1, true, check.StateUp, true}}},
		{"up to down to up", check.StateUp, check.Thresholds{1, 1}, []step{
			{1, true, check.StateUp, false}, {2, false, check.StateDown, true}, {3, true, check.StateUp, true}}},
		{"steady results change nothing", check.StateDown, check.Thresholds{1, 1}, []step{
			{1, false, check.StateDown, false}, {2, false, check.StateDown, false}}},
		{"failure threshold", check.StateUp, check.Thresholds{3, 1}, []step{
			{1, false, check.StateUp, false}, {2, false, check.StateUp, false}, {3, false, check.StateDown, true}}},
		{"a success resets the failure count", check.StateUp, check.Thresholds{2, 1}, []step{
			{1, false, check.StateUp, false}, {2, true, check.StateUp, false}, {3, false, check.StateUp, false},
			{4, false, check.StateDown, true}}},
		{"success threshold", check.StateDown, check.Thresholds{1, 2}, []step{
			{1, true, check.StateDown, false}, {2, true, check.StateUp, true}}},
		{"thresholds apply from unknown", check.StateUnknown, check.Thresholds{2, 2}, []step{
			{1, false, check.StateUnknown, false}, {2, false, check.StateDown, true}}},
		{"paused ignores results", check.StatePaused, check.Thresholds{1, 1}, []step{
			{1, false, check.StatePaused, false}, {2, true, check.StatePaused, false}}},
		{"an older result never moves state back", check.StateUnknown, check.Thresholds{1, 1}, []step{
			{5, false, check.StateDown, true}, {4, true, check.StateDown, false}, {5, true, check.StateDown, false},
			{6, true, check.StateUp, true}}},
		{"zero thresholds behave as one", check.StateUp, check.Thresholds{0, 0}, []step{{1, false, check.StateDown, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := check.Snapshot{State: tt.start}
			for i, st := range tt.steps {
				r := res(st.tick, st.up)
				next, changed := check.Apply(s, r, tt.th)
				require.Equal(t, st.want, next.State, "step %d", i)
				require.Equal(t, st.changed, changed, "step %d", i)
				if changed {
					require.Equal(t, r.CheckedAt, next.LastChangeAt)
				}
				s = next
			}
		})
	}
}

func TestApplyCounters(t *testing.T) {
	s, _ := check.Apply(check.Snapshot{}, res(1, false), check.Thresholds{3, 1})
	s, _ = check.Apply(s, res(2, false), check.Thresholds{3, 1})
	require.Equal(t, 2, s.ConsecutiveFailures)
	require.Zero(t, s.ConsecutiveSuccesses)
	require.Equal(t, "boom", s.LastError)
	require.Equal(t, t0.Add(2*time.Second), s.LastScheduledAt)
	s, _ = check.Apply(s, res(3, true), check.Thresholds{3, 1})
	require.Zero(t, s.ConsecutiveFailures)
	require.Equal(t, 1, s.ConsecutiveSuccesses)
	require.Empty(t, s.LastError)
}

func TestPauseResume(t *testing.T) {
	up := check.Snapshot{State: check.StateUp, ConsecutiveSuccesses: 4, LastScheduledAt: t0}
	p, changed := check.Pause(up, t0.Add(time.Minute))
	require.True(t, changed)
	require.Equal(t, check.StatePaused, p.State)
	require.Zero(t, p.ConsecutiveSuccesses)
	_, changed = check.Pause(p, t0.Add(2*time.Minute))
	require.False(t, changed)

	_, changed = check.Resume(up, t0)
	require.False(t, changed, "resuming a running check is a no-op")
	r, changed := check.Resume(p, t0.Add(2*time.Minute))
	require.True(t, changed)
	require.Equal(t, check.StateUnknown, r.State)
	// A job queued before the pause finishes after the resume: ignored.
	late, changed := check.Apply(r, res(90, false), check.Thresholds{1, 1})
	require.False(t, changed)
	require.Equal(t, check.StateUnknown, late.State)
	fresh, changed := check.Apply(r, res(130, false), check.Thresholds{1, 1})
	require.True(t, changed)
	require.Equal(t, check.StateDown, fresh.State)
}

func TestParseState(t *testing.T) {
	for _, s := range []string{"UP", "DOWN", "UNKNOWN", "PAUSED"} {
		got, ok := check.ParseState(s)
		require.True(t, ok)
		require.Equal(t, check.State(s), got)
	}
	_, ok := check.ParseState("up")
	require.False(t, ok)
}

func TestIsIncident(t *testing.T) {
	for _, tt := range []struct {
		from, to check.State
		want     bool
	}{
		{check.StateUp, check.StateDown, true},
		{check.StateUnknown, check.StateDown, true},
		{check.StatePaused, check.StateDown, true},
		{check.StateDown, check.StateUp, true},
		{check.StateUnknown, check.StateUp, false}, // a first verdict
		{check.StatePaused, check.StateUnknown, false},
		{check.StateUp, check.StatePaused, false},
		{check.StateDown, check.StatePaused, false}, // paused, not recovered
		{check.StateDown, check.StateUnknown, false},
		{check.StatePaused, check.StateUp, false},
	} {
		require.Equal(t, tt.want, check.IsIncident(tt.from, tt.to), "%s -> %s", tt.from, tt.to)
	}
}
