package app_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/kubetest"
)

// Kubernetes mode end to end: a real kube-apiserver, the operator, a
// worker and a read-only server against the real PostgreSQL and RabbitMQ.
// A ServiceCheck's status follows its target, with Events, and the REST
// API serves its history but refuses registration.
func TestKubernetesModeEndToEnd(t *testing.T) {
	t.Parallel()
	kube := kubetest.Start(t, filepath.Join("..", "..", "config", "crd", "bases"))
	cfg := testConfig(t)
	cfg.LeaderElect = false
	cfg.OperatorMetrics = "0"
	cfg.ProbeAddr = "0"
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))

	// The read-only server (and, through it, the schema) first.
	srvCfg := cfg
	srvCfg.Kubernetes, srvCfg.Scheduler = true, false
	srvCfg.MetricLabels = "team"
	sys := start(t, srvCfg, log)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opCfg := cfg
	opCfg.Migrate = false
	go func() {
		done <- app.RunOperator(ctx, opCfg, log.Named("operator"), app.OperatorHooks{KubeConfig: kube, RepeatControllers: true})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("operator did not stop")
		}
	})

	scheme, err := controllers.NewScheme()
	require.NoError(t, err)
	c, err := client.New(kube, client.Options{Scheme: scheme})
	require.NoError(t, err)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}))

	target, down := target(t)
	sc := &monitoringv1alpha1.ServiceCheck{
		ObjectMeta: metav1.ObjectMeta{Name: "payments", Namespace: "shop", Labels: map[string]string{"team": "payments"}},
		Spec: monitoringv1alpha1.ServiceCheckSpec{
			URL:      target.URL + "/health",
			Interval: &metav1.Duration{Duration: time.Second},
			Timeout:  &metav1.Duration{Duration: 500 * time.Millisecond},
		},
	}
	require.NoError(t, c.Create(ctx, sc))
	key := client.ObjectKeyFromObject(sc)

	const wait, tick = 30 * time.Second, 100 * time.Millisecond
	stateIs := func(want monitoringv1alpha1.ServiceState, healthy metav1.ConditionStatus) func() bool {
		return func() bool {
			got := &monitoringv1alpha1.ServiceCheck{}
			if c.Get(ctx, key, got) != nil || got.Status.State != want {
				return false
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, monitoringv1alpha1.HealthyCondition)
			return cond != nil && cond.Status == healthy
		}
	}
	eventWith := func(reason, typ string) func() bool {
		return func() bool {
			var evs eventsv1.EventList
			if c.List(ctx, &evs, client.InNamespace("shop")) != nil {
				return false
			}
			for _, e := range evs.Items {
				if e.Reason == reason && e.Type == typ && e.Regarding.Name == "payments" {
					return true
				}
			}
			return false
		}
	}
	require.Eventually(t, stateIs(monitoringv1alpha1.StateUp, metav1.ConditionTrue), wait, tick, "status becomes UP")
	require.Eventually(t, eventWith("ServiceUp", "Normal"), wait, tick)
	// The server's vigil_check_up names the ServiceCheck and copies the
	// allow-listed label, read from the registry's tags.
	require.Eventually(t, func() bool {
		return strings.Contains(scrapeText(t, sys.api+"/metrics"),
			`name="payments",namespace="shop",service="shop/payments"} 1`)
	}, wait, tick, "%s", func() string {
		var up []string
		for l := range strings.SplitSeq(scrapeText(t, sys.api+"/metrics"), "\n") {
			if strings.HasPrefix(l, "vigil_check_up") {
				up = append(up, l)
			}
		}
		return strings.Join(up, "\n")
	}())
	require.Contains(t, scrapeText(t, sys.api+"/metrics"), `label_team="payments"`)

	// The REST API serves the CR's check and its history, read-only.
	var list struct {
		Items []struct {
			ID   string   `json:"id"`
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		} `json:"items"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", sys.api+"/api/v1/services", nil, &list))
	require.Len(t, list.Items, 1)
	require.Equal(t, "shop/payments", list.Items[0].Name)
	require.Equal(t, []string{"team=payments"}, list.Items[0].Tags)
	var res results
	require.Equal(t, http.StatusOK, call(t, "GET", sys.api+"/api/v1/services/"+list.Items[0].ID+"/results", nil, &res))
	require.NotEmpty(t, res.Items)
	require.Equal(t, http.StatusForbidden, call(t, "POST", sys.api+"/api/v1/services",
		map[string]any{"name": "x", "url": "http://x/", "interval_seconds": 5}, nil))

	down.Store(true)
	require.Eventually(t, stateIs(monitoringv1alpha1.StateDown, metav1.ConditionFalse), wait, tick, "status follows the target DOWN")
	require.Eventually(t, eventWith("ServiceDown", "Warning"), wait, tick)

	// spec.paused stops probing.
	got := &monitoringv1alpha1.ServiceCheck{}
	require.NoError(t, c.Get(ctx, key, got))
	got.Spec.Paused = true
	require.NoError(t, c.Update(ctx, got))
	require.Eventually(t, func() bool {
		g := &monitoringv1alpha1.ServiceCheck{}
		return c.Get(ctx, key, g) == nil && g.Status.State == monitoringv1alpha1.StatePaused
	}, wait, tick)
	time.Sleep(1500 * time.Millisecond) // jobs queued before the pause settle
	var before results
	call(t, "GET", sys.api+"/api/v1/services/"+list.Items[0].ID+"/results?limit=1000", nil, &before)
	time.Sleep(2500 * time.Millisecond)
	var after results
	call(t, "GET", sys.api+"/api/v1/services/"+list.Items[0].ID+"/results?limit=1000", nil, &after)
	require.Len(t, after.Items, len(before.Items), "no probes while paused")

	// Deleting the CR removes the check through the finalizer; its history stays.
	require.NoError(t, c.Delete(ctx, got))
	require.Eventually(t, func() bool {
		var l struct {
			Items []any `json:"items"`
		}
		call(t, "GET", sys.api+"/api/v1/services", nil, &l)
		return len(l.Items) == 0
	}, wait, tick)
	require.Equal(t, http.StatusOK, call(t, "GET", sys.api+"/api/v1/services/"+list.Items[0].ID+"/results", nil, nil))
}
