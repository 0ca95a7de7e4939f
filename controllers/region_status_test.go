package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

// region is a status.regions entry for tests; a zero at means unreported.
func region(name string, s monitoringv1alpha1.RegionState, at time.Time) monitoringv1alpha1.RegionStatus {
	return monitoringv1alpha1.RegionStatus{Name: name, State: s, LastTransitionTime: timePtr(at)}
}

// regionStrings renders status.regions as "name state time" (time "-"
// when unset, else RFC 3339 in UTC): times read back from the API server
// are in the local zone.
func regionStrings(rs []monitoringv1alpha1.RegionStatus) []string {
	var out []string
	for _, r := range rs {
		at := "-"
		if r.LastTransitionTime != nil {
			at = r.LastTransitionTime.UTC().Format(time.RFC3339)
		}
		out = append(out, fmt.Sprintf("%s %s %s", r.Name, r.State, at))
	}
	return out
}

// eventStrings renders events the way events.FakeRecorder does.
func eventStrings(evs []event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s %s", e.Type, e.Reason, e.Note))
	}
	return out
}

func TestNextRegions(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := t0.Add(time.Hour)
	const (
		up      = monitoringv1alpha1.RegionStateUp
		down    = monitoringv1alpha1.RegionStateDown
		unknown = monitoringv1alpha1.RegionStateUnknown
	)
	var never time.Time
	lost := "Warning RegionUnknown region us is UNKNOWN (was UP): its workers produced no result for 3 intervals while other regions did; it never counts toward DOWN until they report again"
	back := "Normal RegionRecovered region us is DOWN again (UNKNOWN since 2026-05-01T12:00:00Z): its workers report again and it counts in the vote"

	tests := []struct {
		name   string
		old    []monitoringv1alpha1.RegionStatus
		spec   []string
		states map[string]check.State
		want   []monitoringv1alpha1.RegionStatus
		events []string
	}{
		{
			name:   "no regions: no list, even if the transition has states",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", up, t0)},
			states: map[string]check.State{"eu": check.StateUp},
		},
		{
			name:   "first transition: the first region to report decides, the others are not lost",
			spec:   []string{"eu", "us", "ap"},
			states: map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown, "ap": check.StateUnknown},
			want:   []monitoringv1alpha1.RegionStatus{region("eu", up, at), region("us", unknown, never), region("ap", unknown, never)},
		},
		{
			name:   "an unreported region that reports is no recovery",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", up, t0), region("us", unknown, never)},
			spec:   []string{"eu", "us"},
			states: map[string]check.State{"eu": check.StateDown, "us": check.StateDown},
			want:   []monitoringv1alpha1.RegionStatus{region("eu", down, at), region("us", down, at)},
		},
		{
			name:   "unchanged regions keep their time and record nothing",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", up, t0), region("us", unknown, t0)},
			spec:   []string{"eu", "us"},
			states: map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown},
			want:   []monitoringv1alpha1.RegionStatus{region("eu", up, t0), region("us", unknown, t0)},
		},
		{
			name:   "a region that was UP goes UNKNOWN",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", down, t0), region("us", up, t0)},
			spec:   []string{"eu", "us"},
			states: map[string]check.State{"eu": check.StateDown, "us": check.StateUnknown},
			want:   []monitoringv1alpha1.RegionStatus{region("eu", down, t0), region("us", unknown, at)},
			events: []string{lost},
		},
		{
			name:   "a region that went UNKNOWN recovers",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", up, t0), region("us", unknown, t0)},
			spec:   []string{"eu", "us"},
			states: map[string]check.State{"eu": check.StateDown, "us": check.StateDown},
			want:   []monitoringv1alpha1.RegionStatus{region("eu", down, at), region("us", down, at)},
			events: []string{back},
		},
		{
			name: "one event of each reason per transition, naming its regions in spec order",
			old: []monitoringv1alpha1.RegionStatus{
				region("us", up, t0), region("eu", down, t0), region("ap", unknown, t0), region("sa", unknown, t0.Add(time.Minute)),
			},
			spec:   []string{"us", "eu", "ap", "sa"},
			states: map[string]check.State{"eu": check.StateUnknown, "us": check.StateUnknown, "ap": check.StateUp, "sa": check.StateDown},
			want:   []monitoringv1alpha1.RegionStatus{region("us", unknown, at), region("eu", unknown, at), region("ap", up, at), region("sa", down, at)},
			events: []string{
				"Warning RegionUnknown regions us, eu are UNKNOWN (us was UP, eu was DOWN): their workers produced no result for 3 intervals while other regions did; they never count toward DOWN until they report again",
				"Normal RegionRecovered regions ap, sa report again and count in the vote (ap is UP, UNKNOWN since 2026-05-01T12:00:00Z; sa is DOWN, UNKNOWN since 2026-05-01T12:01:00Z)",
			},
		},
		{
			name:   "UP to DOWN is the check's event, not a region's",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", up, t0)},
			spec:   []string{"eu"},
			states: map[string]check.State{"eu": check.StateDown},
			want:   []monitoringv1alpha1.RegionStatus{region("eu", down, at)},
		},
		{
			name:   "regions the spec no longer lists drop out; new ones join unreported",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", up, t0), region("us", up, t0)},
			spec:   []string{"ap", "eu"},
			states: map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown},
			want:   []monitoringv1alpha1.RegionStatus{region("ap", unknown, never), region("eu", up, t0)},
		},
		{
			name:   "a listed region the transition lacks keeps its entry",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", up, t0), region("us", up, t0)},
			spec:   []string{"eu", "us"},
			states: map[string]check.State{"eu": check.StateDown},
			want:   []monitoringv1alpha1.RegionStatus{region("eu", down, at), region("us", up, t0)},
		},
		{
			name: "a pause or resume starts every region over, quietly",
			old:  []monitoringv1alpha1.RegionStatus{region("eu", up, t0), region("us", unknown, t0)},
			spec: []string{"eu", "us"},
			want: []monitoringv1alpha1.RegionStatus{region("eu", unknown, never), region("us", unknown, never)},
		},
		{
			name:   "a PAUSED region, which the vote never reports, reads as UNKNOWN",
			old:    []monitoringv1alpha1.RegionStatus{region("eu", up, t0)},
			spec:   []string{"eu"},
			states: map[string]check.State{"eu": check.StatePaused},
			want:   []monitoringv1alpha1.RegionStatus{region("eu", unknown, at)},
			events: []string{"Warning RegionUnknown region eu is UNKNOWN (was UP): its workers produced no result for 3 intervals while other regions did; it never counts toward DOWN until they report again"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, evs := nextRegions(tt.old, tt.spec, tt.states, at)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.events, eventStrings(evs))

			// Applying the same transition again changes nothing: a
			// redelivery that got past the id check records no Event.
			again, evs := nextRegions(got, tt.spec, tt.states, at.Add(time.Minute))
			require.Equal(t, got, again)
			require.Empty(t, evs)
		})
	}
}

func TestListedRegions(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	old := []monitoringv1alpha1.RegionStatus{
		{Name: "eu", State: monitoringv1alpha1.RegionStateDown, LastTransitionTime: &t0},
		{Name: "us", State: monitoringv1alpha1.RegionStateUp, LastTransitionTime: &t0},
	}
	require.Equal(t, []monitoringv1alpha1.RegionStatus{
		{Name: "ap", State: monitoringv1alpha1.RegionStateUnknown},
		{Name: "us", State: monitoringv1alpha1.RegionStateUp, LastTransitionTime: &t0},
	}, listedRegions(old, []string{"ap", "us"}))
	require.Nil(t, listedRegions(old, nil), "no regions: no list")
}

// TestStatusWriterReportsRegions runs a check with regions through the
// reconciler and the status writer's Handle: status.regions follows the
// transitions' region states and the spec, and region Events come once
// per change.
func TestStatusWriterReportsRegions(t *testing.T) {
	ctx := context.Background()
	f := newReconcilerFixture(t, nil, newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) {
		sc.Spec.Regions = []string{"eu", "us", "ap"}
	}))
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	w := &StatusWriter{Client: f.client, Registry: f.registry, Recorder: f.recorder, Log: logr.Discard()}
	unreported := func(name string) monitoringv1alpha1.RegionStatus {
		return monitoringv1alpha1.RegionStatus{Name: name, State: monitoringv1alpha1.RegionStateUnknown}
	}
	requireRegions := func(want ...monitoringv1alpha1.RegionStatus) {
		t.Helper()
		require.Equal(t, regionStrings(want), regionStrings(f.get(t, "payments").Status.Regions))
	}
	requireRegions(unreported("eu"), unreported("us"), unreported("ap"))
	drainEvents(f.recorder)

	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	withRegions := func(tr check.Transition, states map[string]check.State) check.Transition {
		tr.Regions = states
		return tr
	}
	const up, down, unknown = monitoringv1alpha1.RegionStateUp, monitoringv1alpha1.RegionStateDown, monitoringv1alpha1.RegionStateUnknown

	// The first region to report decides the first transition.
	require.NoError(t, w.Handle(ctx, withRegions(transition(1, check.StateUnknown, check.StateUp, t0),
		map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown, "ap": check.StateUnknown})))
	requireRegions(region("eu", up, t0), unreported("us"), unreported("ap"))
	require.Equal(t, []string{"Normal ServiceUp service is up (was UNKNOWN, latency 42ms)"}, drainEvents(f.recorder))

	// DOWN by quorum. ap has not reported as of any transition, so it is
	// not announced as lost.
	t1 := t0.Add(time.Minute)
	require.NoError(t, w.Handle(ctx, withRegions(transition(2, check.StateUp, check.StateDown, t1),
		map[string]check.State{"eu": check.StateDown, "us": check.StateDown, "ap": check.StateUnknown})))
	requireRegions(region("eu", down, t1), region("us", down, t1), unreported("ap"))
	require.Equal(t, []string{"Warning ServiceDown service is down (was UP): service is down"}, drainEvents(f.recorder))

	// us goes quiet: one Warning, beside the check's own Event.
	t2 := t1.Add(time.Minute)
	lostUS := withRegions(transition(3, check.StateDown, check.StateUp, t2),
		map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown, "ap": check.StateUp})
	require.NoError(t, w.Handle(ctx, lostUS))
	requireRegions(region("eu", up, t2), region("us", unknown, t2), region("ap", up, t2))
	require.Equal(t, []string{
		"Normal ServiceUp service is up (was DOWN, latency 42ms)",
		"Warning RegionUnknown region us is UNKNOWN (was DOWN): its workers produced no result for 3 intervals while other regions did; it never counts toward DOWN until they report again",
	}, drainEvents(f.recorder))

	// A redelivery writes nothing and records nothing.
	rv := f.get(t, "payments").ResourceVersion
	require.NoError(t, w.Handle(ctx, lostUS))
	require.Equal(t, rv, f.get(t, "payments").ResourceVersion)
	require.Empty(t, drainEvents(f.recorder))

	// us is back.
	t3 := t2.Add(time.Minute)
	require.NoError(t, w.Handle(ctx, withRegions(transition(4, check.StateUp, check.StateDown, t3),
		map[string]check.State{"eu": check.StateDown, "us": check.StateDown, "ap": check.StateUp})))
	requireRegions(region("eu", down, t3), region("us", down, t3), region("ap", up, t2))
	require.Equal(t, []string{
		"Warning ServiceDown service is down (was UP): service is down",
		"Normal RegionRecovered region us is DOWN again (UNKNOWN since 2026-05-01T12:02:00Z): its workers report again and it counts in the vote",
	}, drainEvents(f.recorder))

	// The spec drops ap: the reconciler drops it from status at once.
	sc := f.get(t, "payments")
	sc.Spec.Regions = []string{"eu", "us"}
	sc.Generation++
	require.NoError(t, f.client.Update(ctx, sc))
	_, err = f.reconcile(t, "payments")
	require.NoError(t, err)
	requireRegions(region("eu", down, t3), region("us", down, t3))

	// A pause starts the regions over, without region Events.
	sc = f.get(t, "payments")
	sc.Spec.Paused = true
	sc.Generation++
	require.NoError(t, f.client.Update(ctx, sc))
	_, err = f.reconcile(t, "payments")
	require.NoError(t, err)
	requireRegions(unreported("eu"), unreported("us"))
	require.Equal(t, []string{"Normal ServicePaused probing paused by spec.paused"}, drainEvents(f.recorder))

	// Without regions, no list.
	sc = f.get(t, "payments")
	sc.Spec.Regions, sc.Spec.Paused = nil, false
	sc.Generation++
	require.NoError(t, f.client.Update(ctx, sc))
	_, err = f.reconcile(t, "payments")
	require.NoError(t, err)
	require.Nil(t, f.get(t, "payments").Status.Regions)
}
