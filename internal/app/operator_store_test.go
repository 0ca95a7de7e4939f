package app_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/amqptest"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/kubetest"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/store"
)

// TestOperatorOnTheStoreAndBroker runs the operator on the real pipeline
// pieces: the PostgreSQL store (a schema of its own) as registry, and
// RabbitMQ (a vhost of its own) carrying transitions from the store to the
// status writer. It proves that the contract the fakes of the controllers'
// tests assume holds for what production uses. It lives here, beside the
// wiring, so that the controllers package and its tests never import the
// store or the broker adapter.
func TestOperatorOnTheStoreAndBroker(t *testing.T) {
	t.Parallel()
	cfg := kubetest.Start(t, filepath.Join("..", "..", "config", "crd", "bases"))
	scheme, err := controllers.NewScheme()
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.Schema(t), 4)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	_, err = st.Migrate(ctx)
	require.NoError(t, err)

	subscribed := make(chan struct{})
	var once sync.Once
	qcfg := queue.Config{
		URL:          amqptest.Vhost(t),
		Logger:       zap.NewNop(),
		OnSubscribed: func() { once.Do(func() { close(subscribed) }) },
	}
	pub, err := queue.NewPublisher(ctx, qcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	publish := func(ctx context.Context, ts ...check.Transition) error { return pub.PublishTransitions(ctx, ts) }

	ns := "vigil-store-" + strings.ToLower(rand.Text()[:8])
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	startOperator(t, cfg, scheme, ns, controllers.OperatorOptions{
		Registry: st,
		Subscribe: func(ctx context.Context, h func(context.Context, check.Transition) error) error {
			return queue.SubscribeTransitions(ctx, qcfg, "vigil.operator.status", h)
		},
		Publish: func(ctx context.Context, t check.Transition) error { return publish(ctx, t) },
	})
	select {
	case <-subscribed:
	case <-time.After(30 * time.Second):
		t.Fatal("status writer never subscribed to the transitions")
	}

	const wait, tick = 30 * time.Second, 50 * time.Millisecond
	sc := &monitoringv1alpha1.ServiceCheck{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orders", Labels: map[string]string{"team": "checkout"}},
		Spec:       monitoringv1alpha1.ServiceCheckSpec{URL: "http://127.0.0.1:1/healthz", Interval: &metav1.Duration{Duration: 5 * time.Second}},
	}
	require.NoError(t, c.Create(ctx, sc))
	id := string(sc.UID)
	require.Eventually(t, func() bool {
		svc, err := st.GetService(ctx, id)
		return err == nil && svc.Name == ns+"/orders"
	}, wait, tick)
	svc, err := st.GetService(ctx, id)
	require.NoError(t, err)
	require.Equal(t, controllers.Source, svc.Source)
	require.Equal(t, []string{"team=checkout"}, svc.Tags)
	require.Equal(t, 4*time.Second, svc.Timeout)

	state := func() monitoringv1alpha1.ServiceCheckStatus {
		got := &monitoringv1alpha1.ServiceCheck{}
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(sc), got))
		return got.Status
	}
	// What a worker does: record a result, publish the transitions.
	probe := func(at time.Time, status check.ResultStatus, errMsg string) {
		out, err := st.Record(ctx, []check.Result{{
			CheckID: id, Service: ns + "/orders", ScheduledAt: at, CheckedAt: at,
			Status: status, Latency: 15 * time.Millisecond, Error: errMsg,
		}})
		require.NoError(t, err)
		require.Len(t, out.Transitions, 1)
		require.NoError(t, publish(ctx, out.Transitions...))
	}

	t0 := time.Now().Truncate(time.Second)
	probe(t0, check.ResultUp, "")
	require.Eventually(t, func() bool { return state().State == monitoringv1alpha1.StateUp }, wait, tick)
	require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "orders", corev1.EventTypeNormal, monitoringv1alpha1.ServiceUpReason), wait, tick)
	require.Equal(t, int64(15), state().LatencyMillis)

	probe(t0.Add(5*time.Second), check.ResultDown, "connection refused")
	require.Eventually(t, func() bool { return state().State == monitoringv1alpha1.StateDown }, wait, tick)
	require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "orders", corev1.EventTypeWarning, monitoringv1alpha1.ServiceDownReason), wait, tick)
	require.Equal(t, int32(1), state().ConsecutiveFailures)
	require.Equal(t, "connection refused", state().Message)

	patch := client.MergeFrom(sc.DeepCopy())
	sc.Spec.Paused = true
	require.NoError(t, c.Patch(ctx, sc, patch))
	require.Eventually(t, func() bool {
		svc, err := st.GetService(ctx, id)
		return err == nil && svc.Paused && svc.State.State == check.StatePaused
	}, wait, tick)
	require.Eventually(t, func() bool {
		s := state()
		return s.State == monitoringv1alpha1.StatePaused && s.LastTransitionID > 0
	}, wait, tick)

	require.NoError(t, c.Delete(ctx, sc))
	require.Eventually(t, func() bool {
		_, err := st.GetService(ctx, id)
		return errors.Is(err, registry.ErrNotFound)
	}, wait, tick)

	operatorRegionsOnTheStoreAndBroker(t, c, st, ns, publish)
}

// operatorRegionsOnTheStoreAndBroker is TestOperatorOnTheStoreAndBroker's
// part about a check with regions: the store's vote decides transitions
// whose region states cross RabbitMQ into status.regions, and a region
// whose results stop is announced once it is counted UNKNOWN.
func operatorRegionsOnTheStoreAndBroker(t *testing.T, c client.Client, st *store.Store, ns string,
	publish func(context.Context, ...check.Transition) error,
) {
	ctx := context.Background()
	const wait, tick = 30 * time.Second, 50 * time.Millisecond
	const interval = 5 * time.Second
	sc := &monitoringv1alpha1.ServiceCheck{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge"},
		Spec: monitoringv1alpha1.ServiceCheckSpec{
			URL: "http://127.0.0.1:1/healthz", Interval: &metav1.Duration{Duration: interval}, Regions: []string{"eu", "us"},
		},
	}
	require.NoError(t, c.Create(ctx, sc))
	id := string(sc.UID)
	require.Eventually(t, func() bool {
		svc, err := st.GetService(ctx, id)
		return err == nil && len(svc.Regions) == 2 && svc.Quorum == 2
	}, wait, tick)

	regionsAre := func(want ...string) func() bool {
		return func() bool {
			got := &monitoringv1alpha1.ServiceCheck{}
			if c.Get(ctx, client.ObjectKeyFromObject(sc), got) != nil || len(got.Status.Regions) != len(want) {
				return false
			}
			for i, r := range got.Status.Regions {
				if r.Name+" "+string(r.State) != want[i] {
					return false
				}
			}
			return true
		}
	}
	// What the workers of a region do: record a result, publish the
	// transitions it caused, if any.
	probe := func(at time.Time, region string, status check.ResultStatus) {
		out, err := st.Record(ctx, []check.Result{{
			CheckID: id, Service: ns + "/edge", ScheduledAt: at, CheckedAt: at, Region: region,
			Status: status, Latency: 15 * time.Millisecond,
		}})
		require.NoError(t, err)
		require.NoError(t, publish(ctx, out.Transitions...))
	}

	t0 := time.Now().Truncate(time.Second)
	probe(t0, "eu", check.ResultUp)
	require.Eventually(t, regionsAre("eu UP", "us UNKNOWN"), wait, tick)
	probe(t0, "us", check.ResultUp)
	probe(t0.Add(interval), "eu", check.ResultDown)
	probe(t0.Add(interval), "us", check.ResultDown)
	require.Eventually(t, regionsAre("eu DOWN", "us DOWN"), wait, tick)

	// us falls silent: more than three intervals behind eu, it is
	// UNKNOWN, and the check, DOWN in one region only, is UNKNOWN too.
	for i := 2; i <= 6; i++ {
		probe(t0.Add(time.Duration(i)*interval), "eu", check.ResultDown)
	}
	require.Eventually(t, regionsAre("eu DOWN", "us UNKNOWN"), wait, tick)
	require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "edge", corev1.EventTypeWarning, monitoringv1alpha1.RegionUnknownReason), wait, tick)

	probe(t0.Add(7*interval), "us", check.ResultDown)
	require.Eventually(t, regionsAre("eu DOWN", "us DOWN"), wait, tick)
	require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "edge", corev1.EventTypeNormal, monitoringv1alpha1.RegionRecoveredReason), wait, tick)
	require.NoError(t, c.Delete(ctx, sc))
}

// startOperator runs the operator in a manager that watches namespace ns
// only (kubetest.StartManager).
func startOperator(t *testing.T, cfg *rest.Config, scheme *kruntime.Scheme, ns string, opts controllers.OperatorOptions) func() error {
	t.Helper()
	return kubetest.StartManager(t, cfg, scheme, ns, func(mgr ctrl.Manager) error { return controllers.SetupOperator(mgr, opts) })
}
