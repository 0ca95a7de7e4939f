package metrics_test

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/metrics"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// scrape fetches /metrics from m the way Prometheus does and parses it with
// Prometheus's own text parser.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

// series finds the one series of family name whose labels are exactly
// labels, or nil.
func series(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	mf, ok := families[name]
	if !ok {
		return nil
	}
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(labels) {
			return m
		}
	}
	return nil
}

func counter(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := series(fams, name, labels)
	require.NotNil(t, m, "%s%v missing", name, labels)
	return m.GetCounter().GetValue()
}

func histogram(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Histogram {
	t.Helper()
	m := series(fams, name, labels)
	require.NotNil(t, m, "%s%v missing", name, labels)
	return m.GetHistogram()
}

// bucket is the cumulative count of h's bucket with upper bound le.
func bucket(t *testing.T, h *dto.Histogram, le float64) uint64 {
	t.Helper()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("no bucket le=%v", le)
	return 0
}

func upResult(latency time.Duration) check.Result {
	return check.Result{CheckID: "c1", Service: "payments", Status: check.ResultUp, Latency: latency}
}

func downResult(latency time.Duration) check.Result {
	return check.Result{CheckID: "c1", Service: "payments", Status: check.ResultDown, Latency: latency, Error: "timeout"}
}

func TestFreshRegistryStartsAtZero(t *testing.T) {
	fams := scrape(t, metrics.New())
	for _, r := range []string{"up", "down"} {
		require.Zero(t, counter(t, fams, "vigil_probes_total", map[string]string{"result": r}))
		require.Zero(t, histogram(t, fams, "vigil_probe_duration_seconds", map[string]string{"result": r}).GetSampleCount())
	}
	for _, s := range []string{"UP", "DOWN", "PAUSED", "UNKNOWN"} {
		require.Zero(t, counter(t, fams, "vigil_transitions_total", map[string]string{"to": s}))
	}
	for _, name := range []string{"vigil_jobs_published_total", "vigil_jobs_consumed_total",
		"vigil_jobs_redelivered_total"} {
		require.Zero(t, counter(t, fams, name, map[string]string{}), name)
	}
	for _, r := range []string{"malformed", "handler", "max_deliveries"} {
		require.Zero(t, counter(t, fams, "vigil_jobs_dead_lettered_total", map[string]string{"reason": r}), r)
	}
	for _, r := range []string{"too_large", "invalid"} {
		require.Zero(t, counter(t, fams, "vigil_jobs_unpublishable_total", map[string]string{"reason": r}), r)
	}
	require.Zero(t, counter(t, fams, "vigil_ticks_missed_total", map[string]string{"reason": "stale"}))
	require.Zero(t, counter(t, fams, "vigil_ticks_missed_total", map[string]string{"reason": "queued"}))
	require.Zero(t, counter(t, fams, "vigil_ticks_missed_total", map[string]string{"reason": "overload"}))
	require.Zero(t, histogram(t, fams, "vigil_schedule_lag_seconds", map[string]string{}).GetSampleCount())
	require.NotContains(t, fams, "vigil_check_up", "no check has a state yet")
	require.NotContains(t, fams, "vigil_worker_overloaded", "only workers expose it")
	require.NotContains(t, fams, "vigil_websocket_clients", "only processes with WebSocket clients expose it")
	require.Contains(t, fams, "go_goroutines")
	require.Contains(t, fams, "process_cpu_seconds_total")
	for name, mf := range fams {
		require.NotEmpty(t, mf.GetHelp(), "%s has no help", name)
	}
}

func TestProbeFinished(t *testing.T) {
	m := metrics.New()
	m.ProbeFinished(upResult(3 * time.Millisecond))
	m.ProbeFinished(upResult(40 * time.Millisecond))
	m.ProbeFinished(upResult(2 * time.Second))
	m.ProbeFinished(downResult(5 * time.Second))
	m.ProbeFinished(downResult(45 * time.Second)) // beyond the last bucket
	m.ProbeFinished(check.Result{Status: ""})     // not UP is a failure

	fams := scrape(t, m)
	up := map[string]string{"result": "up"}
	down := map[string]string{"result": "down"}
	require.Equal(t, 3.0, counter(t, fams, "vigil_probes_total", up))
	require.Equal(t, 3.0, counter(t, fams, "vigil_probes_total", down))

	hu := histogram(t, fams, "vigil_probe_duration_seconds", up)
	require.Equal(t, uint64(3), hu.GetSampleCount())
	require.InDelta(t, 2.043, hu.GetSampleSum(), 1e-9)
	require.Equal(t, uint64(1), bucket(t, hu, 0.005))
	require.Equal(t, uint64(2), bucket(t, hu, 0.05))
	require.Equal(t, uint64(2), bucket(t, hu, 1))
	require.Equal(t, uint64(3), bucket(t, hu, 2.5))
	require.Len(t, hu.GetBucket(), 13, "buckets 5ms..30s and +Inf")
	require.Equal(t, 0.005, hu.GetBucket()[0].GetUpperBound())
	require.Equal(t, 30.0, hu.GetBucket()[11].GetUpperBound())
	require.Equal(t, uint64(3), bucket(t, hu, math.Inf(1)))

	hd := histogram(t, fams, "vigil_probe_duration_seconds", down)
	require.Equal(t, uint64(3), hd.GetSampleCount())
	require.InDelta(t, 50.0, hd.GetSampleSum(), 1e-9)
	require.Equal(t, uint64(1), bucket(t, hd, 0.005))
	require.Equal(t, uint64(2), bucket(t, hd, 5))
	require.Equal(t, uint64(2), bucket(t, hd, 30), "45s lands only in +Inf")
}

func checkUp(fams map[string]*dto.MetricFamily) map[string]float64 {
	got := map[string]float64{}
	for _, m := range fams["vigil_check_up"].GetMetric() {
		var id, svc string
		for _, lp := range m.GetLabel() {
			switch lp.GetName() {
			case "check_id":
				id = lp.GetValue()
			case "service":
				svc = lp.GetValue()
			}
		}
		got[id+"/"+svc] = m.GetGauge().GetValue()
	}
	return got
}

func TestTransitionDrivesCheckUp(t *testing.T) {
	tr := func(id, svc string, from, to check.State) check.Transition {
		return check.Transition{CheckID: id, Service: svc, From: from, To: to, At: t0}
	}
	tests := []struct {
		name        string
		steps       []check.Transition
		deleted     []string
		want        map[string]float64
		transitions map[string]float64
	}{
		{
			name:        "first decisive results",
			steps:       []check.Transition{tr("a", "api", "UNKNOWN", "UP"), tr("b", "db", "UNKNOWN", "DOWN")},
			want:        map[string]float64{"a/api": 1, "b/db": 0},
			transitions: map[string]float64{"UP": 1, "DOWN": 1},
		},
		{
			name:        "flapping keeps one series",
			steps:       []check.Transition{tr("a", "api", "UNKNOWN", "UP"), tr("a", "api", "UP", "DOWN"), tr("a", "api", "DOWN", "UP"), tr("a", "api", "UP", "DOWN")},
			want:        map[string]float64{"a/api": 0},
			transitions: map[string]float64{"UP": 2, "DOWN": 2},
		},
		{
			name:        "pause deletes the series and resume does not bring it back",
			steps:       []check.Transition{tr("a", "api", "UNKNOWN", "UP"), tr("b", "db", "UNKNOWN", "UP"), tr("a", "api", "UP", "PAUSED"), tr("a", "api", "PAUSED", "UNKNOWN")},
			want:        map[string]float64{"b/db": 1},
			transitions: map[string]float64{"UP": 2, "PAUSED": 1, "UNKNOWN": 1},
		},
		{
			name:        "resume then a result brings it back",
			steps:       []check.Transition{tr("a", "api", "UNKNOWN", "DOWN"), tr("a", "api", "DOWN", "PAUSED"), tr("a", "api", "PAUSED", "UNKNOWN"), tr("a", "api", "UNKNOWN", "UP")},
			want:        map[string]float64{"a/api": 1},
			transitions: map[string]float64{"UP": 1, "DOWN": 1, "PAUSED": 1, "UNKNOWN": 1},
		},
		{
			name:        "a renamed check moves its series",
			steps:       []check.Transition{tr("a", "api", "UNKNOWN", "UP"), tr("a", "api-v2", "UP", "DOWN")},
			want:        map[string]float64{"a/api-v2": 0},
			transitions: map[string]float64{"UP": 1, "DOWN": 1},
		},
		{
			name:        "deleted checks lose their series",
			steps:       []check.Transition{tr("a", "api", "UNKNOWN", "UP"), tr("b", "db", "UNKNOWN", "DOWN")},
			deleted:     []string{"a", "never-seen"},
			want:        map[string]float64{"b/db": 0},
			transitions: map[string]float64{"UP": 1, "DOWN": 1},
		},
		{
			name:        "an unknown state is not counted",
			steps:       []check.Transition{tr("a", "api", "UNKNOWN", "UP"), tr("a", "api", "UP", "WEIRD")},
			want:        map[string]float64{},
			transitions: map[string]float64{"UP": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New()
			for _, s := range tt.steps {
				m.Transition(s)
			}
			for _, id := range tt.deleted {
				m.CheckDeleted(id)
			}
			fams := scrape(t, m)
			require.Equal(t, tt.want, checkUp(fams))
			for _, s := range []string{"UP", "DOWN", "PAUSED", "UNKNOWN"} {
				require.Equal(t, tt.transitions[s], counter(t, fams, "vigil_transitions_total", map[string]string{"to": s}), s)
			}
			require.NotContains(t, fams["vigil_transitions_total"].String(), "WEIRD")
		})
	}
}

func TestSetStateSeedsWithoutCountingTransitions(t *testing.T) {
	m := metrics.New()
	m.SetState("a", "api", check.StateUp)
	m.SetState("b", "db", check.StateDown)
	m.SetState("c", "cache", check.StateUnknown)
	m.SetState("d", "queue", check.StatePaused)
	m.SetCheckUp("e", "edge", 1)
	fams := scrape(t, m)
	require.Equal(t, map[string]float64{"a/api": 1, "b/db": 0, "e/edge": 1}, checkUp(fams))
	for _, s := range []string{"UP", "DOWN", "PAUSED", "UNKNOWN"} {
		require.Zero(t, counter(t, fams, "vigil_transitions_total", map[string]string{"to": s}))
	}
}

func TestDispatched(t *testing.T) {
	m := metrics.New()
	claimed := t0.Add(time.Hour)
	job := func(lag time.Duration) check.Job { return check.Job{CheckID: "c", ScheduledAt: claimed.Add(-lag)} }
	m.Dispatched([]check.Job{job(2 * time.Millisecond), job(1500 * time.Millisecond), job(-time.Second)}, claimed)
	m.Dispatched(nil, claimed)
	m.Dispatched([]check.Job{job(90 * time.Second)}, claimed)

	fams := scrape(t, m)
	require.Equal(t, 4.0, counter(t, fams, "vigil_jobs_published_total", map[string]string{}))
	h := histogram(t, fams, "vigil_schedule_lag_seconds", map[string]string{})
	require.Equal(t, uint64(4), h.GetSampleCount())
	require.InDelta(t, 0.002+1.5+0+90, h.GetSampleSum(), 1e-9, "a clock-skewed negative lag counts as zero")
	require.Equal(t, uint64(1), bucket(t, h, 0.001))
	require.Equal(t, uint64(2), bucket(t, h, 0.0025))
	require.Equal(t, uint64(3), bucket(t, h, 2.5))
	require.Equal(t, uint64(3), bucket(t, h, 60))
	require.Equal(t, uint64(4), bucket(t, h, math.Inf(1)))
	require.Len(t, h.GetBucket(), 16, "buckets 1ms..60s and +Inf")
}

func TestJobCounters(t *testing.T) {
	m := metrics.New()
	for _, redelivered := range []bool{false, true, false, true, true} {
		m.JobConsumed(redelivered)
	}
	m.JobDeadLettered("max_deliveries")
	m.JobDeadLettered("max_deliveries")
	m.JobDeadLettered("malformed")
	m.JobUnpublishable("too_large")
	m.JobShed("stale")
	m.JobShed("stale")
	m.JobShed("queued")
	m.TicksOverloaded(3)
	m.TicksOverloaded(0)
	m.TicksOverloaded(-1)
	m.TicksSkipped("behind", 4)
	m.TicksSkipped("outage", 0)
	m.TicksSkipped("outage", -2)

	fams := scrape(t, m)
	require.Equal(t, 2.0, counter(t, fams, "vigil_ticks_missed_total", map[string]string{"reason": "stale"}))
	require.Equal(t, 1.0, counter(t, fams, "vigil_ticks_missed_total", map[string]string{"reason": "queued"}))
	require.Equal(t, 3.0, counter(t, fams, "vigil_ticks_missed_total", map[string]string{"reason": "overload"}))
	require.Equal(t, 4.0, counter(t, fams, "vigil_ticks_missed_total", map[string]string{"reason": "behind"}))
	require.Equal(t, 0.0, counter(t, fams, "vigil_ticks_missed_total", map[string]string{"reason": "outage"}), "exported at zero from the start")
	require.Equal(t, 5.0, counter(t, fams, "vigil_jobs_consumed_total", map[string]string{}))
	require.Equal(t, 3.0, counter(t, fams, "vigil_jobs_redelivered_total", map[string]string{}))
	require.Equal(t, 2.0, counter(t, fams, "vigil_jobs_dead_lettered_total", map[string]string{"reason": "max_deliveries"}))
	require.Equal(t, 1.0, counter(t, fams, "vigil_jobs_dead_lettered_total", map[string]string{"reason": "malformed"}))
	require.Equal(t, 0.0, counter(t, fams, "vigil_jobs_dead_lettered_total", map[string]string{"reason": "handler"}), "known reasons start at zero")
	require.Equal(t, 1.0, counter(t, fams, "vigil_jobs_unpublishable_total", map[string]string{"reason": "too_large"}))
	require.Equal(t, 0.0, counter(t, fams, "vigil_jobs_unpublishable_total", map[string]string{"reason": "invalid"}))
}

func TestWebSocketClients(t *testing.T) {
	m := metrics.New()
	m.WebSocketClients(nil)
	require.NotContains(t, scrape(t, m), "vigil_websocket_clients")

	var n atomic.Int64
	n.Store(3)
	m.WebSocketClients(func() int { return int(n.Load()) })
	gauge := func() float64 {
		s := series(scrape(t, m), "vigil_websocket_clients", map[string]string{})
		require.NotNil(t, s)
		return s.GetGauge().GetValue()
	}
	require.Equal(t, 3.0, gauge())
	n.Store(7)
	require.Equal(t, 7.0, gauge(), "read at scrape time")
	m.WebSocketClients(func() int { return 11 })
	require.Equal(t, 11.0, gauge(), "a second call replaces the source instead of failing to register")
}

func TestWorkerOverloaded(t *testing.T) {
	m := metrics.New()
	m.WorkerOverloaded(nil)
	require.NotContains(t, scrape(t, m), "vigil_worker_overloaded")

	var overloaded atomic.Bool
	m.WorkerOverloaded(overloaded.Load)
	gauge := func() float64 {
		s := series(scrape(t, m), "vigil_worker_overloaded", map[string]string{})
		require.NotNil(t, s)
		return s.GetGauge().GetValue()
	}
	require.Zero(t, gauge())
	overloaded.Store(true)
	require.Equal(t, 1.0, gauge(), "read at scrape time")
	m.WorkerOverloaded(func() bool { return false })
	require.Zero(t, gauge(), "a second call replaces the source instead of failing to register")
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *metrics.Metrics
	require.NotPanics(t, func() {
		m.ProbeFinished(upResult(time.Millisecond))
		m.Transition(check.Transition{CheckID: "a", To: check.StateUp})
		m.SetState("a", "api", check.StateDown)
		m.SetCheckUp("a", "api", 1)
		m.CheckDeleted("a")
		m.Dispatched([]check.Job{{}}, t0)
		m.JobConsumed(true)
		m.JobDeadLettered("handler")
		m.JobUnpublishable("invalid")
		m.WebSocketClients(func() int { return 1 })
		m.JobShed("queued")
		m.WorkerOverloaded(func() bool { return true })
	})
}

func TestInstancesAreIndependent(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.JobDeadLettered("handler")
	require.Equal(t, 1.0, counter(t, scrape(t, a), "vigil_jobs_dead_lettered_total", map[string]string{"reason": "handler"}))
	require.Zero(t, counter(t, scrape(t, b), "vigil_jobs_dead_lettered_total", map[string]string{"reason": "handler"}))
	require.NotNil(t, a.Registry())
	require.NotSame(t, a.Registry(), b.Registry())
}

func TestHandlerCountsScrapesAndNegotiatesOpenMetrics(t *testing.T) {
	m := metrics.New()
	scrape(t, m)
	fams := scrape(t, m)
	require.Equal(t, 1.0, counter(t, fams, "promhttp_metric_handler_requests_total", map[string]string{"code": "200"}),
		"the first scrape is counted by the second")

	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "application/openmetrics-text")
	require.Contains(t, rec.Body.String(), "# EOF")
}

// TestConcurrentHooks runs every hook from many goroutines while scraping,
// for the race detector, and checks nothing was lost.
func TestConcurrentHooks(t *testing.T) {
	m := metrics.New()
	m.WebSocketClients(func() int { return 1 })
	const goroutines, each = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			id := fmt.Sprintf("c%d", g)
			for i := range each {
				m.ProbeFinished(upResult(time.Millisecond))
				m.JobConsumed(i%2 == 0)
				m.Dispatched([]check.Job{{ScheduledAt: t0}}, t0.Add(time.Millisecond))
				to := check.StateUp
				if i%2 == 1 {
					to = check.StateDown
				}
				m.Transition(check.Transition{CheckID: id, Service: fmt.Sprintf("svc-%d", i%3), To: to})
			}
		})
	}
	// Scrape from the test's goroutine: scrape fails the test with
	// require, which must not be called from another goroutine.
	for range 5 {
		scrape(t, m)
	}
	wg.Wait()

	fams := scrape(t, m)
	total := float64(goroutines * each)
	require.Equal(t, total, counter(t, fams, "vigil_probes_total", map[string]string{"result": "up"}))
	require.Equal(t, total, counter(t, fams, "vigil_jobs_consumed_total", map[string]string{}))
	require.Equal(t, total/2, counter(t, fams, "vigil_jobs_redelivered_total", map[string]string{}))
	require.Equal(t, total, counter(t, fams, "vigil_jobs_published_total", map[string]string{}))
	require.Len(t, checkUp(fams), goroutines, "one series per check however often it was renamed")
}
