package app_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	monitoringv1alpha1 "github.com/vigil-dev/vigil/api/v1alpha1"
	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/kubetest"
)

// scrapeText GETs a plain /metrics and returns its body.
func scrapeText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// freeAddr is a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// The operator's /metrics is HTTPS and answers only callers whose token
// the API server accepts and whose RBAC allows GET on /metrics. It carries
// the operator's scheduler's series, its notification dispatcher's and
// vigil_build_info.
//
// Not parallel: the manager serves controller-runtime's process-wide
// registry, where RunOperator adds Vigil's collectors for as long as it
// runs, so two operators in one process at once would clash. Serial tests
// finish before the parallel ones (TestKubernetesModeEndToEnd) resume.
func TestOperatorMetricsAreSecure(t *testing.T) {
	kube := kubetest.Start(t, filepath.Join("..", "..", "config", "crd", "bases"))
	cfg := testConfig(t)
	cfg.LeaderElect, cfg.Discovery = false, false
	cfg.ProbeAddr = "0"
	cfg.OperatorMetrics = freeAddr(t)
	cfg.OperatorMetricsSecure = true
	cfg.Version, cfg.Revision = "v9.9.9-test", "0123abc"
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.RunOperator(ctx, cfg, log.Named("operator"), app.OperatorHooks{KubeConfig: kube, RepeatControllers: true})
	}()
	// A worker probes what the operator's scheduler dispatches, so the
	// check below goes DOWN and the dispatcher has a transition to deliver.
	workerDone := make(chan error, 1)
	go func() { workerDone <- app.RunWorker(ctx, cfg, log.Named("worker"), app.Hooks{}) }()
	t.Cleanup(func() {
		cancel()
		for name, ch := range map[string]chan error{"operator": done, "worker": workerDone} {
			select {
			case err := <-ch:
				require.NoError(t, err, name)
			case <-time.After(20 * time.Second):
				t.Errorf("%s did not stop", name)
			}
		}
	})

	cs, err := kubernetes.NewForConfig(kube)
	require.NoError(t, err)
	const ns = "monitoring"
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	token := func(sa string) string {
		_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		require.NoError(t, err)
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		require.NoError(t, err)
		return tr.Status.Token
	}
	// What the chart's metrics-reader ClusterRole grants Prometheus.
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "vigil-metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-vigil-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "vigil-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	allowed, other := token("prometheus"), token("someone-else")

	// A check for the operator's scheduler to dispatch.
	scheme, err := controllers.NewScheme()
	require.NoError(t, err)
	c, err := client.New(kube, client.Options{Scheme: scheme})
	require.NoError(t, err)
	// A channel that hears of every check in the namespace: the tick
	// check goes DOWN, and the operator's dispatcher delivers it here.
	received := make(chan struct{}, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case received <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(hook.Close)
	ac := &monitoringv1alpha1.AlertChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hook"},
		Spec:       monitoringv1alpha1.AlertChannelSpec{Type: "webhook", URL: hook.URL},
	}
	require.NoError(t, c.Create(ctx, ac))
	// Ready means the channel is stored, so the check's first transition,
	// recorded after, owes it a delivery.
	require.Eventually(t, func() bool {
		got := &monitoringv1alpha1.AlertChannel{}
		return c.Get(ctx, client.ObjectKeyFromObject(ac), got) == nil &&
			meta.IsStatusConditionTrue(got.Status.Conditions, monitoringv1alpha1.ReadyCondition)
	}, 60*time.Second, 200*time.Millisecond, "the AlertChannel is ready")

	require.NoError(t, c.Create(ctx, &monitoringv1alpha1.ServiceCheck{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tick"},
		Spec:       monitoringv1alpha1.ServiceCheckSpec{URL: "http://127.0.0.1:1/", Interval: &metav1.Duration{Duration: time.Second}},
	}))

	// The certificate is self-signed, made at start.
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	get := func(bearer string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+cfg.OperatorMetrics+"/metrics", nil)
		require.NoError(t, err)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const wait, tick = 60 * time.Second, 200 * time.Millisecond
	require.Eventually(t, func() bool { code, _ := get(""); return code != 0 }, wait, tick, "the metrics server listens")

	code, _ := get("")
	require.Equal(t, http.StatusUnauthorized, code, "no token")
	code, _ = get("not-a-token")
	require.NotEqual(t, http.StatusOK, code, "a token the API server does not know")
	code, _ = get(other)
	require.Equal(t, http.StatusForbidden, code, "a valid token without RBAC for /metrics")

	require.Eventually(t, func() bool {
		code, body := get(allowed)
		return code == http.StatusOK && strings.Contains(body, "vigil_jobs_published_total") &&
			!strings.Contains(body, "vigil_jobs_published_total 0\n") &&
			strings.Contains(body, "vigil_schedule_lag_seconds_count")
	}, wait, tick, "the operator's scheduler counts what it dispatches")
	select {
	case <-received:
	case <-time.After(wait):
		t.Fatal("the operator's dispatcher delivered nothing to the channel's webhook")
	}
	// Delivery is observed after the outcome is written back, so the
	// counter may trail the receiver by a moment.
	require.Eventually(t, func() bool {
		_, body := get(allowed)
		return strings.Contains(body, `vigil_notification_attempts_total{channel_type="webhook",outcome="delivered"}`) &&
			strings.Contains(body, `vigil_notification_latency_seconds_count{channel_type="webhook"}`)
	}, wait, tick, "the operator's dispatcher counts its deliveries")
	_, body := get(allowed)
	require.Contains(t, body, "vigil_notification_queue_age_seconds ", "the operator exports its queue's age")
	require.Contains(t, body, `vigil_build_info{goversion="go`)
	require.Contains(t, body, `revision="0123abc",version="v9.9.9-test"} 1`)
	require.Contains(t, body, "controller_runtime_reconcile_total", "controller-runtime's own series stay")

	// Plain HTTP gets nothing.
	resp, err := http.Get("http://" + cfg.OperatorMetrics + "/metrics")
	if err == nil {
		_ = resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a TLS server answers plain HTTP with 400")
	}
}
