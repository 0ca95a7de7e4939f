package controllers

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
)

// newWriterFixture returns a status writer over a registered "payments"
// ServiceCheck whose registry row is UP with the given failures in a row.
func newWriterFixture(t *testing.T, funcs *interceptor.Funcs) (*StatusWriter, *reconcilerFixture) {
	t.Helper()
	f := newReconcilerFixture(t, funcs, newServiceCheck("payments"))
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	w := &StatusWriter{Client: f.client, Registry: f.registry, Recorder: f.recorder, Log: logr.Discard()}
	return w, f
}

func transition(id int64, from, to check.State, at time.Time) check.Transition {
	return check.Transition{
		ID: id, CheckID: "uid-payments", Service: "team/payments",
		From: from, To: to, At: at, Latency: 42 * time.Millisecond, ScheduledAt: at.Add(-time.Second),
	}
}

func TestStatusWriterAppliesTransitions(t *testing.T) {
	w, f := newWriterFixture(t, nil)
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	// UP.
	f.registry.setState("uid-payments", check.Snapshot{State: check.StateUp, ConsecutiveSuccesses: 1})
	require.NoError(t, w.Handle(ctx, transition(7, check.StateUnknown, check.StateUp, at)))
	sc := f.get(t, "payments")
	require.Equal(t, monitoringv1alpha1.StateUp, sc.Status.State)
	require.Equal(t, int64(42), sc.Status.LatencyMillis)
	require.Equal(t, int64(7), sc.Status.LastTransitionID)
	require.Equal(t, "service is up", sc.Status.Message)
	require.True(t, sc.Status.LastTransitionTime.Time.Equal(at))
	require.True(t, sc.Status.LastProbeTime.Time.Equal(at))
	require.Zero(t, sc.Status.ConsecutiveFailures)
	requireCondition(t, sc, monitoringv1alpha1.HealthyCondition, metav1.ConditionTrue, monitoringv1alpha1.ServiceUpReason)
	requireCondition(t, sc, monitoringv1alpha1.ReadyCondition, metav1.ConditionTrue, monitoringv1alpha1.RegisteredReason)
	require.Equal(t, []string{"Normal ServiceUp service is up (was UNKNOWN, latency 42ms)"}, drainEvents(f.recorder))

	// DOWN after three failures.
	f.registry.setState("uid-payments", check.Snapshot{State: check.StateDown, ConsecutiveFailures: 3})
	down := transition(9, check.StateUp, check.StateDown, at.Add(time.Minute))
	down.Error = "timeout after 2s"
	require.NoError(t, w.Handle(ctx, down))
	sc = f.get(t, "payments")
	require.Equal(t, monitoringv1alpha1.StateDown, sc.Status.State)
	require.Equal(t, int32(3), sc.Status.ConsecutiveFailures)
	require.Equal(t, "timeout after 2s", sc.Status.Message)
	c := requireCondition(t, sc, monitoringv1alpha1.HealthyCondition, metav1.ConditionFalse, monitoringv1alpha1.ServiceDownReason)
	require.Equal(t, "timeout after 2s", c.Message)
	require.Equal(t, []string{"Warning ServiceDown service is down (was UP): timeout after 2s"}, drainEvents(f.recorder))

	// A redelivery of either, or anything older, changes nothing.
	for _, old := range []check.Transition{down, transition(7, check.StateUnknown, check.StateUp, at), transition(8, check.StateDown, check.StateUp, at)} {
		rv := f.get(t, "payments").ResourceVersion
		require.NoError(t, w.Handle(ctx, old))
		require.Equal(t, rv, f.get(t, "payments").ResourceVersion)
	}
	require.Empty(t, drainEvents(f.recorder))
}

func TestStatusWriterDrops(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*check.Transition)
	}{
		{"not a service check", func(tr *check.Transition) { tr.Service = "payments" }},
		{"object gone", func(tr *check.Transition) { tr.Service = "team/other" }},
		{"object recreated under the same name", func(tr *check.Transition) { tr.CheckID = "uid-older" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, f := newWriterFixture(t, nil)
			tr := transition(1, check.StateUnknown, check.StateDown, time.Now())
			tt.mutate(&tr)
			require.NoError(t, w.Handle(context.Background(), tr))
			require.Equal(t, monitoringv1alpha1.StateUnknown, f.get(t, "payments").Status.State)
			require.Empty(t, drainEvents(f.recorder))
		})
	}
}

func TestStatusWriterWithoutRegistryRow(t *testing.T) {
	w, f := newWriterFixture(t, nil)
	require.NoError(t, f.registry.DeleteService(context.Background(), "uid-payments"))
	require.NoError(t, w.Handle(context.Background(), transition(3, check.StateUp, check.StateDown, time.Now())))
	sc := f.get(t, "payments")
	require.Equal(t, monitoringv1alpha1.StateDown, sc.Status.State)
	require.Equal(t, int32(1), sc.Status.ConsecutiveFailures)
	require.Equal(t, "service is down", sc.Status.Message)
}

func TestStatusWriterRegistryError(t *testing.T) {
	w, f := newWriterFixture(t, nil)
	boom := errors.New("connection refused")
	f.registry.getErr = boom
	err := w.Handle(context.Background(), transition(3, check.StateUp, check.StateDown, time.Now()))
	require.ErrorIs(t, err, boom, "a transient failure must ask for redelivery")
	require.Equal(t, monitoringv1alpha1.StateUnknown, f.get(t, "payments").Status.State)
}

func TestStatusWriterRetriesConflicts(t *testing.T) {
	var calls atomic.Int32
	conflict := apierrors.NewConflict(schema.GroupResource{Group: monitoringv1alpha1.GroupVersion.Group, Resource: "servicechecks"}, "payments", errors.New("modified"))
	funcs := &interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			// The first patch is the reconciler's; the second, the
			// writer's first try, conflicts.
			if calls.Add(1) == 2 {
				return conflict
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	}
	w, f := newWriterFixture(t, funcs)
	require.NoError(t, w.Handle(context.Background(), transition(3, check.StateUnknown, check.StateUp, time.Now())))
	require.Equal(t, int32(3), calls.Load())
	require.Equal(t, monitoringv1alpha1.StateUp, f.get(t, "payments").Status.State)
	require.Len(t, drainEvents(f.recorder), 1, "one event, however many tries")
}

func TestStatusWriterGivesUpOnPersistentErrors(t *testing.T) {
	boom := errors.New("apiserver unavailable")
	var calls atomic.Int32
	funcs := &interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			if calls.Add(1) > 1 {
				return boom
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	}
	w, f := newWriterFixture(t, funcs)
	err := w.Handle(context.Background(), transition(3, check.StateUnknown, check.StateUp, time.Now()))
	require.ErrorIs(t, err, boom)
	require.Empty(t, drainEvents(f.recorder))
}

func TestStatusWriterStartResubscribes(t *testing.T) {
	w, f := newWriterFixture(t, nil)
	w.MaxBackoff = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var attempts atomic.Int32
	w.Subscribe = func(ctx context.Context, handle func(context.Context, check.Transition) error) error {
		switch attempts.Add(1) {
		case 1:
			return errors.New("channel closed")
		case 2:
			return nil // ended without an error: still retried
		}
		if err := handle(ctx, transition(5, check.StateUnknown, check.StateUp, time.Now())); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()

	require.Eventually(t, func() bool {
		sc := &monitoringv1alpha1.ServiceCheck{}
		return f.client.Get(ctx, client.ObjectKey{Namespace: "team", Name: "payments"}, sc) == nil &&
			sc.Status.State == monitoringv1alpha1.StateUp
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Start did not return after cancel")
	}
	require.Equal(t, int32(3), attempts.Load())
	require.True(t, w.NeedLeaderElection())
}

func TestStatusWriterStartStopsDuringBackoff(t *testing.T) {
	w := &StatusWriter{Log: logr.Discard(), MaxBackoff: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	w.Subscribe = func(context.Context, func(context.Context, check.Transition) error) error {
		cancel()
		return errors.New("broker gone")
	}
	require.NoError(t, w.Start(ctx))

	ctx2, cancel2 := context.WithCancel(context.Background())
	w.Subscribe = func(context.Context, func(context.Context, check.Transition) error) error {
		go func() { time.Sleep(20 * time.Millisecond); cancel2() }()
		return errors.New("broker gone")
	}
	require.NoError(t, w.Start(ctx2))
}

func TestAlreadyApplied(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	mt := metav1.NewTime(at)
	tests := []struct {
		name string
		st   monitoringv1alpha1.ServiceCheckStatus
		t    check.Transition
		want bool
	}{
		{"fresh status", monitoringv1alpha1.ServiceCheckStatus{}, transition(1, check.StateUnknown, check.StateUp, at), false},
		{"newer id", monitoringv1alpha1.ServiceCheckStatus{LastTransitionID: 4}, transition(5, check.StateUp, check.StateDown, at), false},
		{"same id", monitoringv1alpha1.ServiceCheckStatus{LastTransitionID: 5}, transition(5, check.StateUp, check.StateDown, at), true},
		{"no ids, older time", monitoringv1alpha1.ServiceCheckStatus{LastTransitionTime: &mt}, transition(0, check.StateUp, check.StateDown, at.Add(-time.Second)), true},
		{"no ids, same second, same state", monitoringv1alpha1.ServiceCheckStatus{LastTransitionTime: &mt, State: monitoringv1alpha1.StateDown}, transition(0, check.StateUp, check.StateDown, at.Add(300*time.Millisecond)), true},
		{"no ids, same second, other state", monitoringv1alpha1.ServiceCheckStatus{LastTransitionTime: &mt, State: monitoringv1alpha1.StateUp}, transition(0, check.StateUp, check.StateDown, at), false},
		{"status id unknown, newer time", monitoringv1alpha1.ServiceCheckStatus{LastTransitionTime: &mt}, transition(9, check.StateUp, check.StateDown, at.Add(time.Second)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, alreadyApplied(&tt.st, tt.t))
		})
	}
}

func TestEventFor(t *testing.T) {
	tests := []struct {
		from, to    check.State
		typ, reason string
	}{
		{check.StateUnknown, check.StateUp, "Normal", monitoringv1alpha1.ServiceUpReason},
		{check.StateUp, check.StateDown, "Warning", monitoringv1alpha1.ServiceDownReason},
		{check.StateDown, check.StatePaused, "Normal", monitoringv1alpha1.ServicePausedReason},
		{check.StatePaused, check.StateUnknown, "Normal", monitoringv1alpha1.ServiceResumedReason},
		{check.StateUp, check.StateUnknown, "Normal", monitoringv1alpha1.AwaitingProbeReason},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"->"+string(tt.to), func(t *testing.T) {
			e := eventFor(check.Transition{From: tt.from, To: tt.to})
			require.Equal(t, tt.typ, e.Type)
			require.Equal(t, tt.reason, e.Reason)
			require.NotEmpty(t, e.Action)
			require.NotEmpty(t, e.Note)
		})
	}
}

func TestMessageForTruncatesLongErrors(t *testing.T) {
	long := strings.Repeat("é", maxMessageLen)
	msg := messageFor(check.StateDown, long)
	require.LessOrEqual(t, len(msg), maxMessageLen+len("…"))
	require.True(t, utf8.ValidString(msg))
	require.True(t, strings.HasSuffix(msg, "…"))
	require.Equal(t, "short", messageFor(check.StateDown, "short"))
}
