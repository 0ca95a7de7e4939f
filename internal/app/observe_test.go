package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/auth"
)

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "/metrics parses as Prometheus text")
	return families
}

// sum adds up a counter family's samples whose labels include want.
func sum(f map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	total := 0.0
	fam, ok := f[name]
	if !ok {
		return 0
	}
next:
	for _, m := range fam.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			total += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			total += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

func TestMetricsCountWhatHappened(t *testing.T) {
	t.Parallel()
	sys := start(t, testConfig(t), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	srv, _ := target(t)
	var sv service
	require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
		"name": "metered", "url": srv.URL, "interval_seconds": 1,
	}, &sv))
	require.Eventually(t, func() bool {
		var res results
		call(t, "GET", sys.api+"/api/v1/services/"+sv.ID+"/results", nil, &res)
		return len(res.Items) >= 3
	}, 10*time.Second, 100*time.Millisecond)
	// Pause, then let in-flight work settle, so the counts stop moving.
	require.Equal(t, http.StatusOK, call(t, "POST", sys.api+"/api/v1/services/"+sv.ID+"/pause", nil, nil))
	time.Sleep(1500 * time.Millisecond)

	var res results
	call(t, "GET", sys.api+"/api/v1/services/"+sv.ID+"/results?limit=1000", nil, &res)
	stored := float64(len(res.Items))

	w := scrape(t, sys.worker)
	require.Equal(t, stored, sum(w, "vigil_probes_total", map[string]string{"result": "up"}),
		"one probe counted per stored result")
	require.Zero(t, sum(w, "vigil_probes_total", map[string]string{"result": "down"}))
	require.Equal(t, stored, sum(w, "vigil_probe_duration_seconds", nil))
	require.Equal(t, stored, sum(w, "vigil_jobs_consumed_total", nil))
	require.Zero(t, sum(w, "vigil_jobs_dead_lettered_total", nil))

	s := scrape(t, sys.api)
	require.Equal(t, stored, sum(s, "vigil_jobs_published_total", nil), "every published job was probed once")
	require.Equal(t, stored, sum(s, "vigil_schedule_lag_seconds", nil))
	require.Equal(t, 1.0, sum(s, "vigil_transitions_total", map[string]string{"to": "UP"}))
	require.Equal(t, 1.0, sum(s, "vigil_transitions_total", map[string]string{"to": "PAUSED"}))
	require.Zero(t, sum(s, "vigil_websocket_clients", nil))
}

func TestAuthenticationGuardsWritesReadsAndTheWebSocket(t *testing.T) {
	t.Parallel()
	sys := startWith(t, testConfig(t), zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)),
		app.Hooks{Auth: &auth.Config{Tokens: []string{"s3cret-token"}, ProtectReads: true}})
	do := func(method, path, token string) int {
		body := strings.NewReader(`{"name":"x","url":"http://127.0.0.1:1/","interval_seconds":5}`)
		req, err := http.NewRequest(method, sys.api+path, body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, do("GET", "/api/v1/services", ""))
	require.Equal(t, http.StatusUnauthorized, do("GET", "/api/v1/services", "wrong"))
	require.Equal(t, http.StatusOK, do("GET", "/api/v1/services", "s3cret-token"))
	require.Equal(t, http.StatusUnauthorized, do("POST", "/api/v1/services", "wrong"))
	require.Equal(t, http.StatusCreated, do("POST", "/api/v1/services", "s3cret-token"))
	require.Equal(t, http.StatusOK, do("GET", "/healthz", ""), "probes stay open")
	require.Equal(t, http.StatusOK, do("GET", "/metrics", ""), "metrics stay open")

	wsURL := "ws" + strings.TrimPrefix(sys.api, "http") + "/ws"
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	_ = resp.Body.Close()
	c, resp, err := websocket.DefaultDialer.Dial(wsURL+"?access_token=s3cret-token", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	_ = c.Close()
	d := websocket.Dialer{Subprotocols: []string{"bearer.s3cret-token"}}
	c, resp, err = d.Dial(wsURL, nil)
	require.NoError(t, err, "browsers authenticate with a subprotocol")
	_ = resp.Body.Close()
	require.Equal(t, "bearer.s3cret-token", c.Subprotocol())
	_ = c.Close()
}
