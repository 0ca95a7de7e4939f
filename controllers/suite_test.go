package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/kubetest"
)

// transitionFeed is a SubscribeFunc fed from a channel, standing in for the
// durable transitions queue.
type transitionFeed chan check.Transition

func (f transitionFeed) subscribe(ctx context.Context, handle func(context.Context, check.Transition) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case t := <-f:
			if err := handle(ctx, t); err != nil {
				return err
			}
		}
	}
}

// TestEnvtest runs the operator against a real kube-apiserver and etcd:
// the CRD's schema and CEL rules, the reconciler through a manager, the
// status writer and the finalizer, with an in-memory registry. The same
// operator on the real PostgreSQL store and RabbitMQ is tested in
// internal/app (TestOperatorOnTheStoreAndBroker), beside the wiring, so
// that this package never imports the store or the broker adapter.
func TestEnvtest(t *testing.T) {
	cfg := kubetest.Start(t, filepath.Join("..", "config", "crd", "bases"))

	scheme, err := NewScheme()
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	ctx := context.Background()
	ns := newNamespace(t, c)

	registry := newFakeRegistry()
	feed := make(transitionFeed)
	var published []check.Transition
	stop := startOperator(t, cfg, scheme, ns, OperatorOptions{
		Registry:  registry,
		Subscribe: feed.subscribe,
		// The fake registry holds no region states, which a sweep would
		// read as every region UNKNOWN; the regions part feeds the
		// states through transitions instead (TestSweepRegions covers
		// the sweep).
		RegionSweep: -1,
		Publish: func(_ context.Context, t check.Transition) error {
			published = append(published, t)
			return nil
		},
	})

	const wait, tick = 30 * time.Second, 50 * time.Millisecond
	get := func(name string) *monitoringv1alpha1.ServiceCheck {
		sc := &monitoringv1alpha1.ServiceCheck{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sc))
		return sc
	}
	conditionIs := func(name, typ string, status metav1.ConditionStatus) func() bool {
		return func() bool {
			sc := &monitoringv1alpha1.ServiceCheck{}
			if c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sc) != nil {
				return false
			}
			cond := meta.FindStatusCondition(sc.Status.Conditions, typ)
			return cond != nil && cond.Status == status && cond.ObservedGeneration == sc.Generation
		}
	}
	t.Run("the API server applies the schema's defaults", func(t *testing.T) {
		sc := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "defaults"},
			Spec:       monitoringv1alpha1.ServiceCheckSpec{URL: "http://127.0.0.1:1/healthz"},
		}
		require.NoError(t, c.Create(ctx, sc))
		got := get("defaults")
		require.Equal(t, 30*time.Second, got.Spec.Interval.Duration)
		require.Equal(t, int32(1), got.Spec.FailureThreshold)
		require.Equal(t, int32(1), got.Spec.SuccessThreshold)
	})

	t.Run("the samples are valid", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join("..", "config", "samples", "monitoring_*.yaml"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		for _, f := range files {
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			sc := &monitoringv1alpha1.ServiceCheck{}
			require.NoError(t, yaml.UnmarshalStrict(raw, sc), f)
			sc.Namespace = ns
			sc.Name = "sample-" + sc.Name
			require.NoError(t, c.Create(ctx, sc, client.DryRunAll), f)
		}
	})

	t.Run("the API server rejects invalid specs", func(t *testing.T) { envtestInvalidSpecs(ctx, t, c, ns) })

	t.Run("tcp, tls and dns checks", func(t *testing.T) {
		envtestTargetTypes(t, c, ns, registry, conditionIs)
	})

	t.Run("reconcile registers the check and reports Ready", func(t *testing.T) {
		sc := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments", Labels: map[string]string{"team": "checkout"}},
			Spec: monitoringv1alpha1.ServiceCheckSpec{
				URL:      "http://127.0.0.1:1/healthz",
				Interval: &metav1.Duration{Duration: 2 * time.Second},
			},
		}
		require.NoError(t, c.Create(ctx, sc))
		require.Eventually(t, conditionIs("payments", monitoringv1alpha1.ReadyCondition, metav1.ConditionTrue), wait, tick)

		got := get("payments")
		require.Contains(t, got.Finalizers, monitoringv1alpha1.Finalizer)
		require.Equal(t, monitoringv1alpha1.StateUnknown, got.Status.State)
		require.Equal(t, got.Generation, got.Status.ObservedGeneration)
		svc, ok := registry.get(string(got.UID))
		require.True(t, ok)
		require.Equal(t, ns+"/payments", svc.Name)
		require.Equal(t, []string{"team=checkout"}, svc.Tags)
		require.Equal(t, 1600*time.Millisecond, svc.Timeout)
	})

	envtestProbeOptions(t, c, ns, registry)
	t.Run("kubectl get shows an InvalidSpec check as not Ready, with why at -o wide", func(t *testing.T) {
		sc := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "refused"},
			// The zero Policy allows only the safe methods.
			Spec: monitoringv1alpha1.ServiceCheckSpec{URL: "http://127.0.0.1:1/", Method: "POST"},
		}
		require.NoError(t, c.Create(ctx, sc))
		require.Eventually(t, conditionIs("refused", monitoringv1alpha1.ReadyCondition, metav1.ConditionFalse), wait, tick)
		row := tableRow(t, cfg, ns, "refused")
		require.Equal(t, "False", row["Ready"])
		require.Contains(t, row["Message"], "spec.method")
		require.Equal(t, "True", tableRow(t, cfg, ns, "payments")["Ready"])
	})

	t.Run("the status writer reports transitions with Events", func(t *testing.T) {
		sc := get("payments")
		id := string(sc.UID)
		now := time.Now().Truncate(time.Second)
		registry.setState(id, check.Snapshot{State: check.StateUp, ConsecutiveSuccesses: 1})
		feed <- check.Transition{ID: 1, CheckID: id, Service: ns + "/payments", From: check.StateUnknown, To: check.StateUp, At: now, Latency: 12 * time.Millisecond, ScheduledAt: now}
		require.Eventually(t, conditionIs("payments", monitoringv1alpha1.HealthyCondition, metav1.ConditionTrue), wait, tick)
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "payments", corev1.EventTypeNormal, monitoringv1alpha1.ServiceUpReason), wait, tick)
		got := get("payments")
		require.Equal(t, monitoringv1alpha1.StateUp, got.Status.State)
		require.Equal(t, int64(12), got.Status.LatencyMillis)
		require.True(t, got.Status.LastTransitionTime.Time.Equal(now))

		registry.setState(id, check.Snapshot{State: check.StateDown, ConsecutiveFailures: 2})
		feed <- check.Transition{ID: 2, CheckID: id, Service: ns + "/payments", From: check.StateUp, To: check.StateDown, At: now.Add(time.Second), Latency: 2 * time.Second, Error: "timeout after 2s", ScheduledAt: now.Add(time.Second)}
		require.Eventually(t, conditionIs("payments", monitoringv1alpha1.HealthyCondition, metav1.ConditionFalse), wait, tick)
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "payments", corev1.EventTypeWarning, monitoringv1alpha1.ServiceDownReason), wait, tick)
		got = get("payments")
		require.Equal(t, int32(2), got.Status.ConsecutiveFailures)
		require.Equal(t, "timeout after 2s", got.Status.Message)
	})

	envtestRegions(t, c, ns, feed)

	t.Run("spec.paused pauses the check", func(t *testing.T) {
		sc := get("payments")
		patch := client.MergeFrom(sc.DeepCopy())
		sc.Spec.Paused = true
		require.NoError(t, c.Patch(ctx, sc, patch))
		require.Eventually(t, func() bool {
			svc, ok := registry.get(string(sc.UID))
			return ok && svc.Paused && svc.State.State == check.StatePaused
		}, wait, tick)
		require.Eventually(t, func() bool { return get("payments").Status.State == monitoringv1alpha1.StatePaused }, wait, tick)
		require.Eventually(t, kubetest.HasEvent(ctx, c, ns, "payments", corev1.EventTypeNormal, monitoringv1alpha1.ServicePausedReason), wait, tick)
	})

	t.Run("delete removes the row through the finalizer", func(t *testing.T) {
		sc := get("payments")
		require.NoError(t, c.Delete(ctx, sc))
		require.Eventually(t, func() bool {
			err := c.Get(ctx, client.ObjectKeyFromObject(sc), &monitoringv1alpha1.ServiceCheck{})
			return apierrors.IsNotFound(err)
		}, wait, tick)
		_, ok := registry.get(string(sc.UID))
		require.False(t, ok)
	})

	require.NoError(t, stop())
	require.NotEmpty(t, published, "the pause transition is published")
}

// tableRow GETs one ServiceCheck the way kubectl get does (as a Table,
// with every column, as -o wide asks) and returns its cells by column name.
func tableRow(t *testing.T, cfg *rest.Config, ns, name string) map[string]string {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet,
		strings.TrimSuffix(cfg.Host, "/")+"/apis/monitoring.vigil.dev/v1alpha1/namespaces/"+ns+"/servicechecks/"+name+"?includeObject=None", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode, req.URL.String())
	var table metav1.Table
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&table))
	require.Len(t, table.Rows, 1)
	row := map[string]string{}
	for i, col := range table.ColumnDefinitions {
		row[col.Name] = fmt.Sprint(table.Rows[0].Cells[i])
	}
	return row
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := "vigil-envtest-" + randomSuffix(t)
	require.NoError(t, c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	return ns
}

// startOperator runs the operator in a manager that watches namespace ns
// only (kubetest.StartManager).
func startOperator(t *testing.T, cfg *rest.Config, scheme *kruntime.Scheme, ns string, opts OperatorOptions) func() error {
	t.Helper()
	return kubetest.StartManager(t, cfg, scheme, ns, func(mgr ctrl.Manager) error { return SetupOperator(mgr, opts) })
}

func randomSuffix(t *testing.T) string {
	b := make([]byte, 4)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return strings.ToLower(hex.EncodeToString(b))
}

// envtestTargetTypes runs the tcp, tls and dns cases of TestEnvtest: the
// schema admits them, the operator registers them with their type, and a
// target URL the schema admits but Vigil refuses is Ready=False InvalidSpec.
func envtestTargetTypes(t *testing.T, c client.Client, ns string, registry *fakeRegistry,
	conditionIs func(name, typ string, status metav1.ConditionStatus) func() bool,
) {
	ctx := context.Background()
	const wait, tick = 30 * time.Second, 50 * time.Millisecond
	get := func(name string) *monitoringv1alpha1.ServiceCheck {
		sc := &monitoringv1alpha1.ServiceCheck{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sc))
		return sc
	}
	t.Run("tcp, tls and dns checks are admitted and registered", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			typ  check.Type
			url  string
		}{
			{"postgres", check.TypeTCP, "tcp://db.team.svc:5432"},
			{"api-cert", check.TypeTLS, "tls://10.0.0.9:443?server_name=api.example.com"},
			{"cluster-dns", check.TypeDNS, "dns://10.96.0.10:53/kubernetes.default.svc.cluster.local?type=AAAA"},
		} {
			sc := &monitoringv1alpha1.ServiceCheck{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tt.name},
				Spec:       monitoringv1alpha1.ServiceCheckSpec{Type: string(tt.typ), URL: tt.url},
			}
			require.NoError(t, c.Create(ctx, sc), tt.name)
			require.Eventually(t, conditionIs(tt.name, monitoringv1alpha1.ReadyCondition, metav1.ConditionTrue), wait, tick, tt.name)
			svc, ok := registry.get(string(get(tt.name).UID))
			require.True(t, ok, tt.name)
			require.Equal(t, tt.typ, svc.Type)
			require.Equal(t, tt.url, svc.URL)
			require.NoError(t, c.Delete(ctx, get(tt.name)))
		}
	})

	t.Run("a target URL the schema admits but Vigil refuses is InvalidSpec", func(t *testing.T) {
		sc := &monitoringv1alpha1.ServiceCheck{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-port"},
			Spec:       monitoringv1alpha1.ServiceCheckSpec{Type: "tcp", URL: "tcp://db.team.svc"},
		}
		require.NoError(t, c.Create(ctx, sc))
		require.Eventually(t, conditionIs("no-port", monitoringv1alpha1.ReadyCondition, metav1.ConditionFalse), wait, tick)
		cond := meta.FindStatusCondition(get("no-port").Status.Conditions, monitoringv1alpha1.ReadyCondition)
		require.Equal(t, monitoringv1alpha1.InvalidSpecReason, cond.Reason)
		require.Contains(t, cond.Message, "spec.url: must name a host and a port")
		require.NoError(t, c.Delete(ctx, get("no-port")))
	})
}

// envtestInvalidSpecs creates specs the CRD's schema and CEL rules refuse,
// and checks the API server answers Invalid naming the rule.
func envtestInvalidSpecs(ctx context.Context, t *testing.T, c client.Client, ns string) {
	d := func(s string) *metav1.Duration {
		v, err := time.ParseDuration(s)
		require.NoError(t, err)
		return &metav1.Duration{Duration: v}
	}
	tests := []struct {
		name string
		spec monitoringv1alpha1.ServiceCheckSpec
		want string
	}{
		{"timeout equal to interval", monitoringv1alpha1.ServiceCheckSpec{URL: "http://a.test/", Interval: d("5s"), Timeout: d("5s")}, "timeout must be less than interval"},
		{"timeout above interval", monitoringv1alpha1.ServiceCheckSpec{URL: "http://a.test/", Interval: d("5s"), Timeout: d("1m")}, "timeout must be less than interval"},
		{"url and grpc", monitoringv1alpha1.ServiceCheckSpec{URL: "http://a.test/", GRPC: &monitoringv1alpha1.GRPCProbe{Address: "a.test:9090"}}, "exactly one of url or grpc"},
		{"neither url nor grpc", monitoringv1alpha1.ServiceCheckSpec{Interval: d("5s")}, "exactly one of url or grpc"},
		{"interval 500ms", monitoringv1alpha1.ServiceCheckSpec{URL: "http://a.test/", Interval: d("500ms")}, "interval must be at least 1s"},
		{"interval above a day", monitoringv1alpha1.ServiceCheckSpec{URL: "http://a.test/", Interval: d("25h")}, "interval must be at most 24h"},
		{"ftp url", monitoringv1alpha1.ServiceCheckSpec{URL: "ftp://a.test/"}, "spec.url"},
		{"url with credentials", monitoringv1alpha1.ServiceCheckSpec{URL: "http://admin:pw@a.test/"}, "spec.url"},
		{"grpc without port", monitoringv1alpha1.ServiceCheckSpec{GRPC: &monitoringv1alpha1.GRPCProbe{Address: "a.test"}}, "spec.grpc.address"},
		{"method on a grpc check", monitoringv1alpha1.ServiceCheckSpec{GRPC: &monitoringv1alpha1.GRPCProbe{Address: "a.test:1"}, Method: "GET"}, "apply to url checks only"},
		{"expected status out of range", monitoringv1alpha1.ServiceCheckSpec{URL: "http://a.test/", ExpectedStatusCodes: []int32{700}}, "spec.expectedStatusCodes"},
		{"zero failure threshold", monitoringv1alpha1.ServiceCheckSpec{URL: "http://a.test/", FailureThreshold: -1}, "spec.failureThreshold"},
		{"unknown type", monitoringv1alpha1.ServiceCheckSpec{Type: "icmp", URL: "tcp://a.test:1"}, "spec.type"},
		{"tcp url for http", monitoringv1alpha1.ServiceCheckSpec{URL: "tcp://a.test:1"}, "url must start with http:// or https:// for type http"},
		{"http url for tcp", monitoringv1alpha1.ServiceCheckSpec{Type: "tcp", URL: "http://a.test/"}, "url must start with http:// or https:// for type http"},
		{"dns url for tls", monitoringv1alpha1.ServiceCheckSpec{Type: "tls", URL: "dns://a.test:53/x.test"}, "and with tcp://, tls:// or dns://"},
		{"type grpc with a url", monitoringv1alpha1.ServiceCheckSpec{Type: "grpc", URL: "http://a.test/"}, "type grpc goes with grpc"},
		{"type tcp with grpc", monitoringv1alpha1.ServiceCheckSpec{Type: "tcp", GRPC: &monitoringv1alpha1.GRPCProbe{Address: "a.test:1"}}, "type grpc goes with grpc"},
		{"method on a tcp check", monitoringv1alpha1.ServiceCheckSpec{Type: "tcp", URL: "tcp://a.test:1", Method: "GET"}, "apply to http checks only"},
		{"expected status on a dns check", monitoringv1alpha1.ServiceCheckSpec{Type: "dns", URL: "dns://a.test:53/x.test", ExpectedStatusCodes: []int32{200}}, "apply to http checks only"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &monitoringv1alpha1.ServiceCheck{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "invalid-" + string(rune('a'+i))},
				Spec:       tt.spec,
			}
			err := c.Create(ctx, sc)
			require.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}
