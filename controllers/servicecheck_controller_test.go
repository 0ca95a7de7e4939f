package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// newServiceCheck returns a valid HTTP ServiceCheck in namespace "team".
func newServiceCheck(name string, mutate ...func(*monitoringv1alpha1.ServiceCheck)) *monitoringv1alpha1.ServiceCheck {
	sc := &monitoringv1alpha1.ServiceCheck{
		ObjectMeta: metav1.ObjectMeta{
			Name:       name,
			Namespace:  "team",
			UID:        types.UID("uid-" + name),
			Generation: 1,
			Labels:     map[string]string{"tier": "backend", "app": name},
		},
		Spec: monitoringv1alpha1.ServiceCheckSpec{
			URL:              "https://" + name + ".example.test/healthz",
			Interval:         &metav1.Duration{Duration: 10 * time.Second},
			FailureThreshold: 2,
			SuccessThreshold: 1,
		},
	}
	for _, m := range mutate {
		m(sc)
	}
	return sc
}

type reconcilerFixture struct {
	r        *ServiceCheckReconciler
	client   client.Client
	registry *fakeRegistry
	recorder *events.FakeRecorder
	// published collects what the reconciler published.
	published []check.Transition
}

func newReconcilerFixture(t *testing.T, funcs *interceptor.Funcs, objs ...client.Object) *reconcilerFixture {
	t.Helper()
	scheme, err := NewScheme()
	require.NoError(t, err)
	b := fake.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&monitoringv1alpha1.ServiceCheck{}).
		WithObjects(objs...)
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	f := &reconcilerFixture{
		client:   b.Build(),
		registry: newFakeRegistry(),
		recorder: events.NewFakeRecorder(32),
	}
	f.r = &ServiceCheckReconciler{
		Client:   f.client,
		Registry: f.registry,
		Recorder: f.recorder,
		Publish: func(_ context.Context, tr check.Transition) error {
			f.published = append(f.published, tr)
			return nil
		},
	}
	return f
}

func (f *reconcilerFixture) reconcile(t *testing.T, name string) (ctrl.Result, error) {
	t.Helper()
	return f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "team", Name: name}})
}

func (f *reconcilerFixture) get(t *testing.T, name string) *monitoringv1alpha1.ServiceCheck {
	t.Helper()
	sc := &monitoringv1alpha1.ServiceCheck{}
	require.NoError(t, f.client.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: name}, sc))
	return sc
}

// drainEvents returns the events recorded so far.
func drainEvents(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func requireCondition(t *testing.T, sc *monitoringv1alpha1.ServiceCheck, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(sc.Status.Conditions, typ)
	require.NotNil(t, c, "condition %s missing in %+v", typ, sc.Status.Conditions)
	require.Equal(t, status, c.Status, "condition %s: %s", typ, c.Message)
	require.Equal(t, reason, c.Reason, "condition %s: %s", typ, c.Message)
	return c
}

func TestReconcileRegistersNewServiceCheck(t *testing.T) {
	f := newReconcilerFixture(t, nil, newServiceCheck("payments"))

	res, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	require.True(t, res.IsZero())

	sc := f.get(t, "payments")
	require.Contains(t, sc.Finalizers, monitoringv1alpha1.Finalizer)
	require.Equal(t, monitoringv1alpha1.StateUnknown, sc.Status.State)
	require.Equal(t, "uid-payments", sc.Status.ServiceID)
	require.Equal(t, int64(1), sc.Status.ObservedGeneration)
	ready := requireCondition(t, sc, monitoringv1alpha1.ReadyCondition, metav1.ConditionTrue, monitoringv1alpha1.RegisteredReason)
	require.Equal(t, int64(1), ready.ObservedGeneration)
	requireCondition(t, sc, monitoringv1alpha1.HealthyCondition, metav1.ConditionUnknown, monitoringv1alpha1.AwaitingProbeReason)

	svc, ok := f.registry.get("uid-payments")
	require.True(t, ok)
	require.Equal(t, "team/payments", svc.Name)
	require.Equal(t, Source, svc.Source)
	require.Equal(t, check.TypeHTTP, svc.Type)
	require.Equal(t, "https://payments.example.test/healthz", svc.URL)
	require.Equal(t, []string{"app=payments", "tier=backend"}, svc.Tags)
	require.Equal(t, 10*time.Second, svc.Interval)
	require.Equal(t, 5*time.Second, svc.Timeout)
	require.Equal(t, 2, svc.FailureThreshold)
	require.Empty(t, drainEvents(f.recorder))
}

func TestReconcileIsQuietWhenNothingChanged(t *testing.T) {
	f := newReconcilerFixture(t, nil, newServiceCheck("payments"))
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	before := f.get(t, "payments").ResourceVersion

	_, err = f.reconcile(t, "payments")
	require.NoError(t, err)
	require.Equal(t, before, f.get(t, "payments").ResourceVersion, "a no-op reconcile must not write")
}

func TestReconcileFollowsSpecAndLabelChanges(t *testing.T) {
	f := newReconcilerFixture(t, nil, newServiceCheck("payments"))
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)

	sc := f.get(t, "payments")
	sc.Spec.URL = "http://payments.example.test/ready"
	sc.Spec.Timeout = &metav1.Duration{Duration: 2 * time.Second}
	sc.Labels = map[string]string{"team": "checkout"}
	sc.Generation = 2
	require.NoError(t, f.client.Update(context.Background(), sc))

	_, err = f.reconcile(t, "payments")
	require.NoError(t, err)
	svc, _ := f.registry.get("uid-payments")
	require.Equal(t, "http://payments.example.test/ready", svc.URL)
	require.Equal(t, 2*time.Second, svc.Timeout)
	require.Equal(t, []string{"team=checkout"}, svc.Tags)
	require.Equal(t, int64(2), f.get(t, "payments").Status.ObservedGeneration)
}

func TestReconcileRefusesInvalidSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*monitoringv1alpha1.ServiceCheck)
		field  string
	}{
		{"timeout not below interval", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Timeout = &metav1.Duration{Duration: 10 * time.Second}
		}, "spec.timeout"},
		{"interval below a second", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Interval = &metav1.Duration{Duration: 500 * time.Millisecond}
		}, "spec.interval"},
		{"ftp url", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.URL = "ftp://x.test/" }, "spec.url"},
		{"grpc address without port", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.URL = ""
			sc.Spec.GRPC = &monitoringv1alpha1.GRPCProbe{Address: "payments"}
		}, "spec.grpc.address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReconcilerFixture(t, nil, newServiceCheck("payments", tt.mutate))

			res, err := f.reconcile(t, "payments")
			require.NoError(t, err, "an invalid spec must not be retried")
			require.True(t, res.IsZero())

			sc := f.get(t, "payments")
			c := requireCondition(t, sc, monitoringv1alpha1.ReadyCondition, metav1.ConditionFalse, monitoringv1alpha1.InvalidSpecReason)
			require.True(t, strings.HasPrefix(c.Message, tt.field+":"), c.Message)
			require.Equal(t, int64(1), sc.Status.ObservedGeneration)
			upserts, _, _ := f.registry.counts()
			require.Zero(t, upserts)
			evs := drainEvents(f.recorder)
			require.Len(t, evs, 1)
			require.True(t, strings.HasPrefix(evs[0], "Warning InvalidSpec "+tt.field), evs[0])

			// Reconciling the same invalid spec again says nothing new.
			_, err = f.reconcile(t, "payments")
			require.NoError(t, err)
			require.Empty(t, drainEvents(f.recorder))
		})
	}
}

func TestReconcileRegistryFailures(t *testing.T) {
	boom := errors.New("connection refused")
	tests := []struct {
		name        string
		breakIt     func(*fakeRegistry)
		wantErr     bool
		wantRequeue time.Duration
		wantReason  string
	}{
		{"upsert fails", func(r *fakeRegistry) { r.upsertErr = boom }, true, 0, monitoringv1alpha1.RegistryErrorReason},
		{"name taken", func(r *fakeRegistry) { r.upsertErr = fmt.Errorf("insert: %w", registry.ErrNameTaken) }, false, NameTakenRetry, monitoringv1alpha1.NameTakenReason},
		{"get fails", func(r *fakeRegistry) { r.getErr = boom }, true, 0, monitoringv1alpha1.RegistryErrorReason},
		{"pause fails", func(r *fakeRegistry) {
			// Registered while active, so this reconcile has to pause it
			// (one created paused is paused from the start).
			r.register("uid-payments", "team/payments")
			r.pauseErr = boom
		}, true, 0, monitoringv1alpha1.RegistryErrorReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReconcilerFixture(t, nil, newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) {
				sc.Spec.Paused = true
			}))
			tt.breakIt(f.registry)

			res, err := f.reconcile(t, "payments")
			if tt.wantErr {
				require.ErrorIs(t, err, boom)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.wantRequeue, res.RequeueAfter)
			sc := f.get(t, "payments")
			requireCondition(t, sc, monitoringv1alpha1.ReadyCondition, metav1.ConditionFalse, tt.wantReason)
			require.Zero(t, sc.Status.ObservedGeneration, "a failed attempt has not observed the spec")
		})
	}
}

func TestReconcilePausesAndResumes(t *testing.T) {
	f := newReconcilerFixture(t, nil, newServiceCheck("payments"))
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	f.registry.setState("uid-payments", check.Snapshot{State: check.StateUp, ConsecutiveSuccesses: 3})

	setPaused := func(paused bool) {
		sc := f.get(t, "payments")
		sc.Spec.Paused = paused
		sc.Generation++
		require.NoError(t, f.client.Update(context.Background(), sc))
		_, err := f.reconcile(t, "payments")
		require.NoError(t, err)
	}

	setPaused(true)
	sc := f.get(t, "payments")
	require.Equal(t, monitoringv1alpha1.StatePaused, sc.Status.State)
	require.Equal(t, int64(1), sc.Status.LastTransitionID)
	requireCondition(t, sc, monitoringv1alpha1.HealthyCondition, metav1.ConditionUnknown, monitoringv1alpha1.ServicePausedReason)
	requireCondition(t, sc, monitoringv1alpha1.ReadyCondition, metav1.ConditionTrue, monitoringv1alpha1.RegisteredReason)
	svc, _ := f.registry.get("uid-payments")
	require.True(t, svc.Paused)
	require.Equal(t, check.StatePaused, svc.State.State)
	require.Equal(t, []string{"Normal ServicePaused probing paused by spec.paused"}, drainEvents(f.recorder))
	require.Len(t, f.published, 1)
	require.Equal(t, check.StateUp, f.published[0].From)

	setPaused(false)
	sc = f.get(t, "payments")
	require.Equal(t, monitoringv1alpha1.StateUnknown, sc.Status.State)
	requireCondition(t, sc, monitoringv1alpha1.HealthyCondition, metav1.ConditionUnknown, monitoringv1alpha1.AwaitingProbeReason)
	require.Equal(t, []string{"Normal ServiceResumed state is UNKNOWN (was PAUSED)"}, drainEvents(f.recorder))
	require.Len(t, f.published, 2)
	_, _, pauses := f.registry.counts()
	require.Equal(t, 2, pauses)
}

func TestReconcileHealsStatusThatMissedAPause(t *testing.T) {
	f := newReconcilerFixture(t, nil, newServiceCheck("payments"))
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	sc := f.get(t, "payments")
	sc.Spec.Paused = true
	sc.Generation++
	require.NoError(t, f.client.Update(context.Background(), sc))
	_, err = f.reconcile(t, "payments")
	require.NoError(t, err)
	require.Equal(t, monitoringv1alpha1.StatePaused, f.get(t, "payments").Status.State)
	drainEvents(f.recorder)

	// The status lost the pause (say a conflict dropped the patch); the
	// registry is paused already, so no transition is left to report.
	sc = f.get(t, "payments")
	sc.Status.State = monitoringv1alpha1.StateUp
	require.NoError(t, f.client.Status().Update(context.Background(), sc))

	_, err = f.reconcile(t, "payments")
	require.NoError(t, err)
	require.Equal(t, monitoringv1alpha1.StatePaused, f.get(t, "payments").Status.State)
	_, _, pauses := f.registry.counts()
	require.Equal(t, 1, pauses)
	require.Empty(t, drainEvents(f.recorder))
}

func TestReconcileDelete(t *testing.T) {
	boom := errors.New("connection refused")
	tests := []struct {
		name       string
		registered bool
		deleteErr  error
		wantErr    bool
	}{
		{"removes the row", true, nil, false},
		{"row already gone", false, nil, false},
		{"registry down keeps the finalizer", true, boom, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReconcilerFixture(t, nil, newServiceCheck("payments"))
			_, err := f.reconcile(t, "payments")
			require.NoError(t, err)
			if !tt.registered {
				require.NoError(t, f.registry.DeleteService(context.Background(), "uid-payments"))
			}
			f.registry.deleteErr = tt.deleteErr
			require.NoError(t, f.client.Delete(context.Background(), f.get(t, "payments")))

			_, err = f.reconcile(t, "payments")
			sc := &monitoringv1alpha1.ServiceCheck{}
			getErr := f.client.Get(context.Background(), types.NamespacedName{Namespace: "team", Name: "payments"}, sc)
			if tt.wantErr {
				require.ErrorIs(t, err, boom)
				require.NoError(t, getErr, "the object must wait for its row to go")
				require.Contains(t, sc.Finalizers, monitoringv1alpha1.Finalizer)
				return
			}
			require.NoError(t, err)
			require.True(t, apierrors.IsNotFound(getErr), "finalizer not removed: %v", getErr)
			_, ok := f.registry.get("uid-payments")
			require.False(t, ok)
		})
	}
}

func TestReconcileMissingObject(t *testing.T) {
	f := newReconcilerFixture(t, nil)
	res, err := f.reconcile(t, "gone")
	require.NoError(t, err)
	require.True(t, res.IsZero())
}

func TestReconcileDeleteWithoutFinalizerIsNoop(t *testing.T) {
	sc := newServiceCheck("payments")
	now := metav1.Now()
	sc.DeletionTimestamp = &now
	sc.Finalizers = []string{"someone.else/finalizer"}
	f := newReconcilerFixture(t, nil, sc)
	_, err := f.reconcile(t, "payments")
	require.NoError(t, err)
	_, deletes, _ := f.registry.counts()
	require.Zero(t, deletes)
}

func TestReconcileAPIErrors(t *testing.T) {
	boom := errors.New("apiserver unavailable")
	conflict := apierrors.NewConflict(schema.GroupResource{Group: monitoringv1alpha1.GroupVersion.Group, Resource: "servicechecks"}, "payments", errors.New("modified"))
	tests := []struct {
		name  string
		funcs interceptor.Funcs
		want  error
	}{
		{"finalizer patch fails", interceptor.Funcs{
			Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
				return boom
			},
		}, boom},
		{"status patch conflicts", interceptor.Funcs{
			SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
				return conflict
			},
		}, conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newReconcilerFixture(t, &tt.funcs, newServiceCheck("payments"))
			_, err := f.reconcile(t, "payments")
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestCheckFor(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*monitoringv1alpha1.ServiceCheck)
		want   func(*testing.T, *check.Check)
	}{
		{"http defaults", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Interval = nil
			sc.Spec.FailureThreshold, sc.Spec.SuccessThreshold = 0, 0
			sc.Labels = nil
		}, func(t *testing.T, c *check.Check) {
			require.Equal(t, DefaultInterval, c.Interval)
			require.Equal(t, 5*time.Second, c.Timeout)
			require.Equal(t, "GET", c.Method)
			require.Equal(t, 200, c.ExpectedStatus)
			require.Equal(t, 1, c.FailureThreshold)
			require.Equal(t, 1, c.SuccessThreshold)
			require.Equal(t, []string{}, c.Tags)
		}},
		{"http fields", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Method = "HEAD"
			sc.Spec.ExpectedStatusCodes = []int32{204}
			sc.Spec.Interval = &metav1.Duration{Duration: 2 * time.Second}
			sc.Spec.Paused = true
		}, func(t *testing.T, c *check.Check) {
			require.Equal(t, "HEAD", c.Method)
			require.Equal(t, 204, c.ExpectedStatus)
			require.Equal(t, 1600*time.Millisecond, c.Timeout, "default timeout fits the interval")
			require.True(t, c.Paused)
		}},
		{"grpc", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.URL = ""
			sc.Spec.GRPC = &monitoringv1alpha1.GRPCProbe{Address: "payments.team.svc:9090", Service: "payments.v1.Payments"}
		}, func(t *testing.T, c *check.Check) {
			require.Equal(t, check.TypeGRPC, c.Type)
			require.Equal(t, "grpc://payments.team.svc:9090", c.URL)
			require.Equal(t, "payments.v1.Payments", c.GRPCService)
		}},
		{"grpc with tls", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.URL = ""
			sc.Spec.GRPC = &monitoringv1alpha1.GRPCProbe{Address: "[::1]:9090", TLS: true}
		}, func(t *testing.T, c *check.Check) {
			require.Equal(t, "grpcs://[::1]:9090", c.URL)
		}},
		{"tcp", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Type, sc.Spec.URL = "tcp", "tcp://db.team.svc:5432"
		}, func(t *testing.T, c *check.Check) {
			require.Equal(t, check.TypeTCP, c.Type)
			require.Equal(t, "tcp://db.team.svc:5432", c.URL)
			require.Empty(t, c.Method, "HTTP defaults do not apply")
		}},
		{"tls", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Type, sc.Spec.URL = "tls", "tls://10.0.0.9:443?server_name=api.example.com"
		}, func(t *testing.T, c *check.Check) {
			require.Equal(t, check.TypeTLS, c.Type)
			require.Equal(t, "tls://10.0.0.9:443?server_name=api.example.com", c.URL)
		}},
		{"dns", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Type, sc.Spec.URL = "dns", "dns://10.96.0.10:53/kubernetes.default.svc.cluster.local?type=A"
		}, func(t *testing.T, c *check.Check) {
			require.Equal(t, check.TypeDNS, c.Type)
		}},
		{"explicit http", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Type = "http" }, func(t *testing.T, c *check.Check) {
			require.Equal(t, check.TypeHTTP, c.Type)
		}},
		{"long labels are not tags", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Labels = map[string]string{"b": "2", "a": "1", "example.com/" + strings.Repeat("k", 63): strings.Repeat("v", 150),
				"app": strings.Repeat("v", 60)}
		}, func(t *testing.T, c *check.Check) {
			require.Equal(t, []string{"a=1", "b=2"}, c.Tags, "a tag is at most 63 characters, as over REST")
		}},
		{"labels past the tag limit are left out", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Labels = map[string]string{}
			for i := range 40 {
				sc.Labels[fmt.Sprintf("l%02d", i)] = "x"
			}
		}, func(t *testing.T, c *check.Check) {
			require.Len(t, c.Tags, check.MaxTags)
			require.Equal(t, "l00=x", c.Tags[0])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := newServiceCheck("payments", tt.mutate)
			c, err := CheckFor(sc, check.Policy{})
			require.NoError(t, err)
			require.Equal(t, "uid-payments", c.ID)
			require.Equal(t, "team/payments", c.Name)
			require.Equal(t, Source, c.Source)
			tt.want(t, c)
		})
	}
}

// TestCheckForPolicy: an operator that opts in to more methods lets
// ServiceChecks use them, as VIGIL_PROBE_METHODS does for REST.
func TestCheckForSLOTarget(t *testing.T) {
	c, err := CheckFor(newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.SLOTarget = "99.95" }), check.Policy{})
	require.NoError(t, err)
	require.InDelta(t, 99.95, c.SLOTarget, 1e-9)
	c, err = CheckFor(newServiceCheck("payments"), check.Policy{})
	require.NoError(t, err)
	require.Zero(t, c.SLOTarget, "unset: no SLO")
	require.Equal(t, "spec.sloTarget", crdField("slo_target", false))
}

func TestCheckForPolicy(t *testing.T) {
	sc := newServiceCheck("payments", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Method = "POST" })
	_, err := CheckFor(sc, check.Policy{})
	require.ErrorContains(t, err, "spec.method: must be one of GET, HEAD, OPTIONS")
	c, err := CheckFor(sc, check.Policy{Methods: []string{"GET", "POST"}})
	require.NoError(t, err)
	require.Equal(t, "POST", c.Method)
}

func TestCheckForFieldNames(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*monitoringv1alpha1.ServiceCheck)
		field  string
	}{
		{"name too long", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Name = strings.Repeat("n", 200) }, "metadata.name"},
		{"method", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Method = "GE T" }, "spec.method"},
		{"expected status", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.ExpectedStatusCodes = []int32{42} }, "spec.expectedStatusCodes"},
		{"failure threshold", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.FailureThreshold = -1 }, "spec.failureThreshold"},
		{"success threshold", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.SuccessThreshold = -1 }, "spec.successThreshold"},
		{"unsafe method", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Method = "DELETE" }, "spec.method"},
		{"url with credentials", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.URL = "https://u:p@payments.example/" }, "spec.url"},
		{"grpc service with NUL", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.URL = ""
			sc.Spec.GRPC = &monitoringv1alpha1.GRPCProbe{Address: "payments:9090", Service: "svc\x00"}
		}, "spec.grpc.service"},
		{"slo target zero", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.SLOTarget = "0" }, "spec.sloTarget"},
		{"slo target 100", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.SLOTarget = "100" }, "spec.sloTarget"},
		{"slo target not a number", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.SLOTarget = "high" }, "spec.sloTarget"},
		{"tcp url without a port", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Type, sc.Spec.URL = "tcp", "tcp://db.team.svc"
		}, "spec.url"},
		{"dns type not allowed", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Type, sc.Spec.URL = "dns", "dns://10.96.0.10:53/x.example?type=ANY"
		}, "spec.url"},
		{"type grpc with a url", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Type = "grpc" }, "spec.type"},
		{"unknown type", func(sc *monitoringv1alpha1.ServiceCheck) { sc.Spec.Type = "icmp" }, "spec.type"},
		{"interval not whole ms", func(sc *monitoringv1alpha1.ServiceCheck) {
			sc.Spec.Interval = &metav1.Duration{Duration: time.Second + time.Microsecond}
		}, "spec.interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CheckFor(newServiceCheck("payments", tt.mutate), check.Policy{})
			fe, ok := check.AsFieldError(err)
			require.True(t, ok, "want a field error, got %v", err)
			require.Equal(t, tt.field, fe.Field)
		})
	}
	require.Equal(t, "spec.type", crdField("type", false))
	require.Equal(t, "spec", crdField("no_such_field", false))
	require.Equal(t, "metadata.labels", crdField("tags", false))
	require.Equal(t, "metadata.labels", crdField("tags[3]", false))
}
