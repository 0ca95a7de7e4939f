package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

// TestSweepRegions: a region whose results stop while the others keep the
// check UP changes no check state, so no transition tells; the sweep
// reads the regions' states from the registry and reports the region
// UNKNOWN, and back, with one Event each, patching nothing while nothing
// changes.
func TestSweepRegions(t *testing.T) {
	ctx := context.Background()
	f := newReconcilerFixture(t, nil,
		newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Regions = []string{"eu", "us"} }),
		newServiceCheck("plain"),
	)
	for _, name := range []string{"payments", "plain"} {
		_, err := f.reconcile(t, name)
		require.NoError(t, err)
	}
	id := f.get(t, "payments").Status.ServiceID
	require.NotEmpty(t, id)
	drainEvents(f.recorder)
	w := &StatusWriter{Client: f.client, Registry: f.registry, Recorder: f.recorder, Log: logr.Discard()}
	const up, unknown = monitoringv1alpha1.RegionStateUp, monitoringv1alpha1.RegionStateUnknown
	requireRegions := func(want ...monitoringv1alpha1.RegionStatus) {
		t.Helper()
		require.Equal(t, regionStrings(want), regionStrings(f.get(t, "payments").Status.Regions))
	}
	report := func(region string, tick time.Time) {
		f.registry.SetRegionState(id, region, check.Snapshot{State: check.StateUp, LastScheduledAt: tick, LastCheckedAt: tick})
	}

	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	report("eu", t0)
	report("us", t0)
	s1 := t0.Add(time.Second)
	require.NoError(t, w.SweepRegions(ctx, s1))
	requireRegions(region("eu", up, s1), region("us", up, s1))
	require.Empty(t, drainEvents(f.recorder), "a region's first state is no recovery")
	plainRV := f.get(t, "plain").ResourceVersion

	// us stops reporting; eu goes on, ten minutes on: us is more than
	// three of the check's intervals behind.
	report("eu", t0.Add(10*time.Minute))
	s2 := t0.Add(10 * time.Minute)
	require.NoError(t, w.SweepRegions(ctx, s2))
	requireRegions(region("eu", up, s1), region("us", unknown, s2))
	require.Equal(t, []string{
		"Warning RegionUnknown region us is UNKNOWN (was UP): its workers produced no result for 3 intervals while other regions did; it never counts toward DOWN until they report again",
	}, drainEvents(f.recorder))

	// Nothing changed: nothing written, nothing recorded.
	rv := f.get(t, "payments").ResourceVersion
	require.NoError(t, w.SweepRegions(ctx, s2.Add(30*time.Second)))
	require.Equal(t, rv, f.get(t, "payments").ResourceVersion)
	require.Empty(t, drainEvents(f.recorder))

	report("eu", t0.Add(11*time.Minute))
	report("us", t0.Add(11*time.Minute))
	s3 := t0.Add(11 * time.Minute)
	require.NoError(t, w.SweepRegions(ctx, s3))
	requireRegions(region("eu", up, s1), region("us", up, s3))
	require.Equal(t, []string{
		"Normal RegionRecovered region us is UP again (UNKNOWN since 2026-05-01T12:10:00Z): its workers report again and it counts in the vote",
	}, drainEvents(f.recorder))
	require.Equal(t, plainRV, f.get(t, "plain").ResourceVersion, "a check without regions is never touched")

	// A registry that cannot be read fails the sweep, naming the object.
	f.registry.mu.Lock()
	f.registry.getErr = errors.New("database unavailable")
	f.registry.mu.Unlock()
	err := w.SweepRegions(ctx, s3.Add(time.Minute))
	require.ErrorContains(t, err, "team/payments")
	require.ErrorContains(t, err, "database unavailable")
}

// The status writer runs the sweep beside its subscription, until its
// context ends.
func TestStatusWriterStartSweepsRegions(t *testing.T) {
	f := newReconcilerFixture(t, nil,
		newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Regions = []string{"eu"} }))
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	id := f.get(t, "payments").Status.ServiceID
	now := time.Now()
	f.registry.SetRegionState(id, "eu", check.Snapshot{State: check.StateUp, LastScheduledAt: now, LastCheckedAt: now})
	w := &StatusWriter{Client: f.client, Registry: f.registry, Recorder: f.recorder, Log: logr.Discard(),
		RegionSweep: 10 * time.Millisecond,
		Subscribe: func(ctx context.Context, _ func(context.Context, check.Transition) error) error {
			<-ctx.Done()
			return ctx.Err()
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	require.Eventually(t, func() bool {
		rs := f.get(t, "payments").Status.Regions
		return len(rs) == 1 && rs[0].State == monitoringv1alpha1.RegionStateUp
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return with its context")
	}
}
