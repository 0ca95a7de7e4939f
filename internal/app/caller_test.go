package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/auth"
)

// hostileCall sends one request to the real server and returns its status
// and error code ("" when the body is not an API error).
func hostileCall(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Code
}

// TestServerRefusesHostileCallers runs the whole server (real PostgreSQL
// and RabbitMQ) and plays the callers the API must turn away: a web page
// posting a form cross-site, a DNS-rebound page, a browser that attached
// its cached credentials, and input the store cannot take.
func TestServerRefusesHostileCallers(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.AllowedHosts = "127.0.0.1"
	cfg.ProbeMethods = "GET,PUT"
	cfg.Pprof = true
	cfg.PprofAddr = "127.0.0.1:0"
	sys := startWith(t, cfg, zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), app.Hooks{
		Auth: &auth.Config{Users: map[string]string{"alice": "wonderland"}, ProtectReads: false},
	})
	services := sys.api + "/api/v1/services"
	valid := `{"name":"payments","url":"http://127.0.0.1:1/","interval_seconds":5}`
	alice := "Basic " + "YWxpY2U6d29uZGVybGFuZA==" // alice:wonderland, as a browser caches it
	foreign := "https://attacker.example"

	// An HTML form on any site can post text/plain without a preflight,
	// and the browser attaches the credentials it has cached.
	status, code := hostileCall(t, "POST", services, valid, map[string]string{
		"Content-Type": "text/plain", "Origin": foreign, "Sec-Fetch-Site": "cross-site", "Authorization": alice})
	require.Equal(t, http.StatusForbidden, status)
	require.Equal(t, "cross_origin", code)
	status, code = hostileCall(t, "POST", services, valid, map[string]string{
		"Content-Type": "application/json", "Origin": foreign, "Authorization": alice})
	require.Equal(t, http.StatusForbidden, status, "an old browser without Sec-Fetch-Site")
	require.Equal(t, "cross_origin", code)
	status, _ = hostileCall(t, "POST", services+"/anything/pause", "", map[string]string{
		"Sec-Fetch-Site": "same-site", "Authorization": alice})
	require.Equal(t, http.StatusForbidden, status, "bodiless writes too")
	status, code = hostileCall(t, "POST", services, valid, map[string]string{"Content-Type": "text/plain", "Authorization": alice})
	require.Equal(t, http.StatusUnsupportedMediaType, status)
	require.Equal(t, "unsupported_media_type", code)

	// A rebound domain names itself in Host, credentials or not.
	status, code = hostileCall(t, "GET", services, "", map[string]string{"Host": "attacker.example", "Authorization": alice})
	require.Equal(t, http.StatusMisdirectedRequest, status)
	require.Equal(t, "misdirected_request", code)
	status, _ = hostileCall(t, "GET", sys.api+"/healthz", "", map[string]string{"Host": "10.9.8.7:8080"})
	require.Equal(t, http.StatusOK, status, "probes by IP keep working")

	// The WebSocket is refused cross-origin, in JSON, before the upgrade.
	wsURL := "ws" + strings.TrimPrefix(sys.api, "http") + "/ws"
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {foreign}})
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	_ = resp.Body.Close()

	// curl-style clients keep working.
	asJSON := map[string]string{"Content-Type": "application/json", "Authorization": alice}
	status, _ = hostileCall(t, "POST", services, valid, asJSON)
	require.Equal(t, http.StatusCreated, status)

	// What PostgreSQL cannot store is the caller's mistake: 400, never 500.
	for _, tt := range []struct{ method, url, body, field string }{
		{"GET", services + "/%00", "", "id"},
		{"GET", services + "/%ff/results", "", "id"},
		{"DELETE", services + "/x%00", "", "id"},
		{"GET", services + "?tag=%00", "", "tag"},
		{"POST", services, `{"name":"a\u0000","url":"http://127.0.0.1:1/","interval_seconds":5}`, "name"},
		{"POST", services, `{"name":"b","url":"http://127.0.0.1:1/","interval_seconds":5,"tags":["x","\u0000"]}`, "tags[1]"},
		{"POST", services, `{"name":"c","url":"http://127.0.0.1:1/` + strings.Repeat("a", 3000) + `","interval_seconds":5}`, "url"},
		{"POST", services, `{"name":"d","url":"http://user:pw@127.0.0.1:1/","interval_seconds":5}`, "url"},
		{"POST", services, `{"name":"e","url":"http://127.0.0.1:1/","interval_seconds":5,"method":"HEAD"}`, "method"},
	} {
		status, code := hostileCall(t, tt.method, tt.url, tt.body, asJSON)
		require.Equal(t, http.StatusBadRequest, status, "%s %s %s", tt.method, tt.url, tt.body)
		require.Contains(t, []string{"invalid_field", "invalid_parameter"}, code)
	}
	// VIGIL_PROBE_METHODS reaches the REST registry.
	status, _ = hostileCall(t, "POST", services, `{"name":"f","url":"http://127.0.0.1:1/","interval_seconds":5,"method":"PUT"}`, asJSON)
	require.Equal(t, http.StatusCreated, status)

	// Profiles are not on the API's listener, where auth leaves unknown
	// paths open for the dashboard.
	resp, err = http.Get(sys.api + "/debug/pprof/cmdline")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	require.NotContains(t, string(body), "amqp://")
	require.NotContains(t, string(body), "app.test", "the test binary's command line")
}
