package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/registry"
)

// fakeReader is a registry of services with tags, counting its reads.
type fakeReader struct {
	svcs        map[string]registry.Service
	gets, lists atomic.Int32
	err         error
}

func (f *fakeReader) GetService(_ context.Context, id string) (registry.Service, error) {
	f.gets.Add(1)
	if f.err != nil {
		return registry.Service{}, f.err
	}
	sv, ok := f.svcs[id]
	if !ok {
		return registry.Service{}, registry.ErrNotFound
	}
	return sv, nil
}

func (f *fakeReader) ListServices(context.Context, registry.ListFilter) ([]registry.Service, error) {
	f.lists.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	var out []registry.Service
	for _, sv := range f.svcs {
		out = append(out, sv)
	}
	return out, nil
}

func svc(id, name string, tags ...string) registry.Service {
	return registry.Service{Check: check.Check{ID: id, Name: name, Tags: tags}}
}

func metricsText(t *testing.T, h interface{ Handler() http.Handler }) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func TestServerMetricsLabels(t *testing.T) {
	cfg := config.Defaults()
	cfg.Kubernetes, cfg.MetricLabels = true, "team"
	m, err := serverMetrics(cfg)
	require.NoError(t, err)
	st := &fakeReader{svcs: map[string]registry.Service{"a": svc("a", "shop/payments", "team=checkout")}}
	ctx := context.Background()

	up := check.Transition{CheckID: "a", Service: "shop/payments", From: check.StateUnknown, To: check.StateUp, At: time.Now()}
	observeTransition(ctx, st, m, up, zap.NewNop())
	observeTransition(ctx, st, m, up, zap.NewNop())
	require.Equal(t, int32(1), st.gets.Load(), "one read per check, not per transition")
	require.Contains(t, metricsText(t, m), `vigil_check_up{check_id="a",label_team="checkout",name="payments",namespace="shop",service="shop/payments"} 1`)

	// Relabelled in the registry, and another check deleted: the refresh
	// moves the one and forgets the other.
	observeTransition(ctx, st, m, check.Transition{CheckID: "b", Service: "shop/gone", To: check.StateDown, At: time.Now()}, zap.NewNop())
	st.svcs["a"] = svc("a", "shop/payments", "team=payments")
	require.NoError(t, syncCheckLabels(ctx, st, m))
	text := metricsText(t, m)
	require.Contains(t, text, `label_team="payments"`)
	require.NotContains(t, text, `label_team="checkout"`)
	require.NotContains(t, text, `shop/gone`)

	// A registry that cannot answer leaves the labels empty, not the series missing.
	st.err = errors.New("database down")
	observeTransition(ctx, st, m, check.Transition{CheckID: "c", Service: "shop/new", To: check.StateUp, At: time.Now()}, zap.NewNop())
	require.Contains(t, metricsText(t, m), `check_id="c",label_team="",name="new",namespace="shop"`)
	require.ErrorContains(t, syncCheckLabels(ctx, st, m), "database down")

	_, err = serverMetrics(config.Config{MetricLabels: "a.b,a-b"})
	require.ErrorContains(t, err, "VIGIL_METRIC_LABELS")
}

func TestRefreshCheckLabelsRunsOnlyWithAnAllowList(t *testing.T) {
	st := &fakeReader{svcs: map[string]registry.Service{"a": svc("a", "x", "team=t")}}
	plain, err := serverMetrics(config.Defaults())
	require.NoError(t, err)
	require.NoError(t, refreshCheckLabels(context.Background(), st, plain, time.Millisecond, zap.NewNop()), "returns at once")
	require.Zero(t, st.lists.Load())

	cfg := config.Defaults()
	cfg.MetricLabels = "team"
	m, err := serverMetrics(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- refreshCheckLabels(ctx, st, m, time.Millisecond, zap.NewNop()) }()
	require.Eventually(t, func() bool { return st.lists.Load() >= 2 }, 10*time.Second, time.Millisecond)
	require.True(t, m.KnowsCheckTags("a"))
	cancel()
	require.NoError(t, <-done)
	require.NotContains(t, metricsText(t, m), "vigil_check_up{", "tags alone make no series")
}

// An operator labels its jobs as vigil_check_up is labelled: namespace and
// name always (it schedules ServiceChecks only), the allow-listed labels
// from the registry, read at once and then every labelRefresh.
func TestOperatorLabelsJobs(t *testing.T) {
	cfg := config.Defaults()
	cfg.MetricLabels = "team"
	m, err := operatorMetrics(cfg)
	require.NoError(t, err)
	st := &fakeReader{svcs: map[string]registry.Service{"a": svc("a", "shop/payments", "team=checkout")}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- watchCheckLabels(ctx, st, m, zap.NewNop()) }()
	require.Eventually(t, func() bool { return m.KnowsCheckTags("a") }, 10*time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	jobs := []check.Job{{CheckID: "a", Service: "shop/payments"}}
	m.LabelJobs(jobs)
	require.Equal(t, []check.MetricLabel{{Name: "namespace", Value: "shop"}, {Name: "name", Value: "payments"},
		{Name: "label_team", Value: "checkout"}}, jobs[0].MetricLabels)

	plain, err := operatorMetrics(config.Defaults())
	require.NoError(t, err)
	require.NoError(t, watchCheckLabels(context.Background(), st, plain, zap.NewNop()), "returns at once without an allow-list")
	require.Equal(t, int32(1), st.lists.Load())

	_, err = operatorMetrics(config.Config{MetricLabels: "a.b,a-b"})
	require.ErrorContains(t, err, "VIGIL_METRIC_LABELS")
	_, err = workerMetrics(config.Config{MetricLabels: "a.b,a-b"})
	require.ErrorContains(t, err, "VIGIL_METRIC_LABELS")
}

// A worker that predates Job.MetricLabels reads a job that has them as the
// job it always was: the queue's codec writes json.Marshal's form and
// accepts unknown fields, and the labels are one more such field.
func TestJobsWithMetricLabelsReachOlderWorkers(t *testing.T) {
	job := check.Job{CheckID: "a", Service: "shop/payments", Type: check.TypeHTTP, URL: "http://127.0.0.1:1/",
		Timeout: time.Second, ScheduledAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Interval: time.Minute,
		MetricLabels: []check.MetricLabel{{Name: "namespace", Value: "shop"}, {Name: "name", Value: "payments"}}}
	body, err := queue.EncodeJob(job)
	require.NoError(t, err)
	require.Contains(t, string(body), `"metric_labels":[{"name":"namespace","value":"shop"}`)

	// The job as an older worker's check.Job declares it.
	var old struct {
		CheckID     string        `json:"check_id"`
		Service     string        `json:"service"`
		Type        check.Type    `json:"type"`
		URL         string        `json:"url"`
		Timeout     time.Duration `json:"timeout_ns"`
		ScheduledAt time.Time     `json:"scheduled_at"`
		Interval    time.Duration `json:"interval_ns,omitempty"`
	}
	require.NoError(t, json.Unmarshal(body, &old))
	require.Equal(t, job.CheckID, old.CheckID)
	require.Equal(t, job.URL, old.URL)
	require.Equal(t, job.Timeout, old.Timeout)
	require.True(t, job.ScheduledAt.Equal(old.ScheduledAt))

	// And a job without labels is byte for byte the message it was.
	job.MetricLabels = nil
	body, err = queue.EncodeJob(job)
	require.NoError(t, err)
	require.NotContains(t, string(body), "metric_labels")
	got, err := queue.DecodeJob(body)
	require.NoError(t, err)
	require.Nil(t, got.MetricLabels)
}
