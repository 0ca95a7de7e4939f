package metrics_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/metrics"
)

// factLabels lists the series of family name with their non-empty labels
// (Prometheus reads an empty label as absent) and, under "=", the value.
func factLabels(fams map[string]*dto.MetricFamily, name string) []map[string]string {
	var out []map[string]string
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			if lp.GetValue() != "" {
				got[lp.GetName()] = lp.GetValue()
			}
		}
		got["="] = strconv.FormatFloat(m.GetGauge().GetValue(), 'f', -1, 64)
		out = append(out, got)
	}
	return out
}

// factLabelNames is every label name of family name's first series, empty
// ones included: the collector's fixed label set.
func factLabelNames(fams map[string]*dto.MetricFamily, name string) []string {
	var out []string
	for _, lp := range fams[name].GetMetric()[0].GetLabel() {
		out = append(out, lp.GetName())
	}
	return out
}

// The last HTTP status and certificate expiry of each check are series
// with vigil_check_up's labels.
func TestCheckFacts(t *testing.T) {
	m := metrics.New()
	notAfter := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	m.ProbeFinished(check.Result{CheckID: "c1", Service: "payments", Status: check.ResultUp, HTTPStatus: 200,
		CertNotAfter: notAfter, Interval: time.Minute})
	m.ProbeFinished(check.Result{CheckID: "c2", Service: "search", Status: check.ResultDown, HTTPStatus: 503})
	m.ProbeFinished(check.Result{CheckID: "c3", Service: "grpc", Status: check.ResultUp})

	fams := scrape(t, m)
	require.ElementsMatch(t, []map[string]string{
		{"check_id": "c1", "service": "payments", "=": "200"},
		{"check_id": "c2", "service": "search", "=": "503"},
	}, factLabels(fams, "vigil_check_http_status"))
	require.ElementsMatch(t, []map[string]string{
		{"check_id": "c1", "service": "payments", "=": strconv.FormatInt(notAfter.Unix(), 10)},
	}, factLabels(fams, "vigil_check_cert_expiry_timestamp_seconds"))
	require.Equal(t, []string{"check_id", "name", "namespace", "service"}, factLabelNames(fams, "vigil_check_http_status"),
		"vigil_check_up's label set, namespace and name empty outside Kubernetes mode")

	// A probe that got no response leaves no stale status behind; a
	// deleted check loses its series.
	m.ProbeFinished(check.Result{CheckID: "c2", Service: "search", Status: check.ResultDown, Error: "timeout"})
	m.CheckDeleted("c1")
	fams = scrape(t, m)
	require.Empty(t, factLabels(fams, "vigil_check_http_status"))
	require.Empty(t, factLabels(fams, "vigil_check_cert_expiry_timestamp_seconds"))
}

// A worker's facts carry the labels the job brought, under the label names
// its own allow-list fixes: a job's label the worker does not export is
// dropped, one the job lacks is empty, and every value is cleaned and cut.
func TestCheckFactsCarryTheJobsLabels(t *testing.T) {
	keys, err := metrics.ParseLabelKeys("team,app.kubernetes.io/tier")
	require.NoError(t, err)
	m := metrics.New(metrics.WithCheckLabels(keys))
	long := strings.Repeat("x", 100)
	m.ProbeFinished(check.Result{CheckID: "a", Service: "shop/payments", Status: check.ResultUp, HTTPStatus: 200,
		MetricLabels: []check.MetricLabel{
			{Name: "namespace", Value: "shop"}, {Name: "name", Value: "payments"},
			{Name: "label_team", Value: "check\x00out\xff"},
			{Name: "label_app_kubernetes_io_tier", Value: long},
			{Name: "label_other", Value: "not exported here"},
			{Name: "check_id", Value: "forged"}, {Name: "service", Value: "forged"},
			{Name: "__name__", Value: "forged"},
		}})
	// A job from a scheduler that predates the labels (or resolves none).
	m.ProbeFinished(check.Result{CheckID: "old", Service: "legacy", Status: check.ResultUp, HTTPStatus: 204})

	fams := scrape(t, m)
	require.ElementsMatch(t, []map[string]string{
		{"check_id": "a", "service": "shop/payments", "namespace": "shop", "name": "payments",
			"label_team": "checkout\uFFFD", "label_app_kubernetes_io_tier": check.CleanText(long, 63), "=": "200"},
		{"check_id": "old", "service": "legacy", "=": "204"},
	}, factLabels(fams, "vigil_check_http_status"))
	require.LessOrEqual(t, len(check.CleanText(long, 63)), 63)
	require.Equal(t, []string{"check_id", "label_app_kubernetes_io_tier", "label_team", "name", "namespace", "service"},
		factLabelNames(fams, "vigil_check_http_status"), "the label set is the process's, whatever the job holds")

	t.Run("only the first MaxMetricLabels of a job count", func(t *testing.T) {
		flood := make([]check.MetricLabel, 0, check.MaxMetricLabels+1)
		for range check.MaxMetricLabels {
			flood = append(flood, check.MetricLabel{Name: "label_unknown", Value: "x"})
		}
		flood = append(flood, check.MetricLabel{Name: "label_team", Value: "past the bound"})
		m.ProbeFinished(check.Result{CheckID: "flood", Service: "f", Status: check.ResultUp, HTTPStatus: 200, MetricLabels: flood})
		require.Contains(t, factLabels(scrape(t, m), "vigil_check_http_status"),
			map[string]string{"check_id": "flood", "service": "f", "=": "200"})
	})

	t.Run("a check's labels follow its latest job", func(t *testing.T) {
		m.ProbeFinished(check.Result{CheckID: "a", Service: "shop/payments", Status: check.ResultUp, HTTPStatus: 500,
			MetricLabels: []check.MetricLabel{{Name: "namespace", Value: "shop"}, {Name: "name", Value: "payments"}, {Name: "label_team", Value: "payments"}}})
		got := factLabels(scrape(t, m), "vigil_check_http_status")
		require.Contains(t, got, map[string]string{"check_id": "a", "service": "shop/payments", "namespace": "shop", "name": "payments",
			"label_team": "payments", "=": "500"})
		require.Len(t, got, 3, "the old label set left no series behind")
	})
}

// The scheduler's process labels each job with what its check's
// vigil_check_up carries there.
func TestLabelJobs(t *testing.T) {
	keys, err := metrics.ParseLabelKeys("team,app.kubernetes.io/tier")
	require.NoError(t, err)

	t.Run("kubernetes mode", func(t *testing.T) {
		m := metrics.New(metrics.WithKubernetesNames(), metrics.WithCheckLabels(keys))
		m.SetCheckTags("a", []string{"team=checkout", "other=x"})
		jobs := []check.Job{
			{CheckID: "a", Service: "shop/payments"},
			{CheckID: "b", Service: "shop/cart"}, // tags not known yet
			{CheckID: "c", Service: "odd"},
		}
		m.LabelJobs(jobs)
		require.Equal(t, []check.MetricLabel{{Name: "namespace", Value: "shop"}, {Name: "name", Value: "payments"},
			{Name: "label_team", Value: "checkout"}}, jobs[0].MetricLabels)
		require.Equal(t, []check.MetricLabel{{Name: "namespace", Value: "shop"}, {Name: "name", Value: "cart"}}, jobs[1].MetricLabels)
		require.Empty(t, jobs[2].MetricLabels)
		require.LessOrEqual(t, 2+metrics.MaxLabelKeys, check.MaxMetricLabels, "a job can hold every label a scheduler resolves")

		// The job's labels on a worker with the same allow-list give its
		// facts vigil_check_up's labels.
		w := metrics.New(metrics.WithCheckLabels(keys))
		w.ProbeFinished(check.Result{CheckID: "a", Service: "shop/payments", HTTPStatus: 200, MetricLabels: jobs[0].MetricLabels})
		m.Transition(check.Transition{CheckID: "a", Service: "shop/payments", From: check.StateUnknown, To: check.StateUp, At: t0})
		up := checkUpLabels(scrape(t, m))
		facts := factLabels(scrape(t, w), "vigil_check_http_status")
		require.Len(t, up, 1)
		require.Len(t, facts, 1)
		delete(up[0], "=")
		delete(facts[0], "=")
		require.Equal(t, up[0], facts[0])
	})

	t.Run("compose mode without an allow-list sends none", func(t *testing.T) {
		m := metrics.New()
		jobs := []check.Job{{CheckID: "a", Service: "shop/payments"}}
		m.LabelJobs(jobs)
		require.Nil(t, jobs[0].MetricLabels)
	})

	t.Run("compose mode with an allow-list sends the copied labels only", func(t *testing.T) {
		m := metrics.New(metrics.WithCheckLabels(keys))
		m.SetCheckTags("a", []string{"app.kubernetes.io/tier=web"})
		jobs := []check.Job{{CheckID: "a", Service: "team/api"}}
		m.LabelJobs(jobs)
		require.Equal(t, []check.MetricLabel{{Name: "label_app_kubernetes_io_tier", Value: "web"}}, jobs[0].MetricLabels)
	})
}
