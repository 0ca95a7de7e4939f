package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/app"
)

// factsOf is the labels (non-empty ones) and value of the worker's
// vigil_check_http_status series of checkID, or nil.
func factsOf(t *testing.T, worker, checkID string) map[string]string {
	t.Helper()
	for _, m := range scrape(t, worker)["vigil_check_http_status"].GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			if lp.GetValue() != "" {
				got[lp.GetName()] = lp.GetValue()
			}
		}
		if got["check_id"] == checkID {
			got["="] = http.StatusText(int(m.GetGauge().GetValue()))
			return got
		}
	}
	return nil
}

// The labels the server copies onto vigil_check_up cross the broker in the
// job and reach the worker's per-check facts.
func TestCheckFactsCarryTheServersLabels(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.MetricLabels = "team"
	sys := start(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	srv, _ := target(t)
	var sv service
	require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
		"name": "labelled", "url": srv.URL, "interval_seconds": 1, "tags": []string{"team=payments", "tier=web"},
	}, &sv))
	want := map[string]string{"check_id": sv.ID, "service": "labelled", "label_team": "payments", "=": "OK"}
	require.Eventually(t, func() bool {
		return equalMaps(factsOf(t, sys.worker, sv.ID), want)
	}, 15*time.Second, 100*time.Millisecond, "the facts carry the server's label_team")
	// The server's vigil_check_up has the same labels.
	require.Equal(t, 1.0, sum(scrape(t, sys.api), "vigil_check_up",
		map[string]string{"check_id": sv.ID, "service": "labelled", "label_team": "payments"}))
}

// A job without labels - from a scheduler that predates them or resolves
// none - still gives a worker with an allow-list its facts, with the
// copied labels empty.
func TestCheckFactsFromJobsWithoutLabels(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t) // the scheduler's server has no allow-list
	wcfg := cfg
	wcfg.MetricLabels = "team"
	sys := startPair(t, cfg, wcfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), app.Hooks{})
	srv, _ := target(t)
	var sv service
	require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
		"name": "plain", "url": srv.URL, "interval_seconds": 1, "tags": []string{"team=payments"},
	}, &sv))
	require.Eventually(t, func() bool {
		return equalMaps(factsOf(t, sys.worker, sv.ID), map[string]string{"check_id": sv.ID, "service": "plain", "=": "OK"})
	}, 15*time.Second, 100*time.Millisecond)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
