package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// guarded serves req through Guard in front of a handler that answers
// 204, and reports the response.
func guarded(t *testing.T, cfg GuardConfig, req *http.Request) response {
	t.Helper()
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	rec := httptest.NewRecorder()
	Guard(cfg, next).ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func TestGuardAllowedHosts(t *testing.T) {
	cfg := GuardConfig{AllowedHosts: []string{"vigil.example", "10.0.0.5:8080", "[::1]"}}
	tests := []struct {
		host, path string
		ok         bool
	}{
		{"vigil.example", "/api/v1/services", true},
		{"vigil.example:8080", "/api/v1/services", true},
		{"VIGIL.example", "/", true},
		{"10.0.0.5:8080", "/ws", true},
		{"[::1]:8080", "/api/v1/services", true},
		// A rebound domain still names itself in Host.
		{"attacker.example", "/api/v1/services", false},
		{"attacker.example:8080", "/", false},
		{"attacker.example", "/ws", false},
		{"10.0.0.5", "/api/v1/services", false},
		{"10.0.0.5:9090", "/api/v1/services", false},
		{"vigil.example.attacker.example", "/api/v1/services", false},
		{"", "/api/v1/services", false},
		// Probes by IP keep working.
		{"10.1.2.3:8080", "/healthz", true},
		{"10.1.2.3:8080", "/readyz", true},
		{"10.1.2.3:8080", "/metrics", true},
		{"10.1.2.3:8080", "/healthz/", false},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Host = tt.host
			resp := guarded(t, cfg, req)
			if tt.ok {
				require.Equal(t, http.StatusNoContent, resp.status)
				return
			}
			requireError(t, resp, http.StatusMisdirectedRequest, CodeMisdirected, "")
		})
	}
	t.Run("no list answers any host", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/services", nil)
		req.Host = "anything.example"
		require.Equal(t, http.StatusNoContent, guarded(t, GuardConfig{}, req).status)
	})
}

func TestGuardCrossOrigin(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		ok      bool
	}{
		{"curl write", http.MethodPost, "/api/v1/services", nil, true},
		{"same-origin write", http.MethodPost, "/api/v1/services", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://vigil.example"}, true},
		{"typed by the user", http.MethodPost, "/api/v1/services", map[string]string{"Sec-Fetch-Site": "none"}, true},
		{"old browser, same origin", http.MethodDelete, "/api/v1/services/x", map[string]string{"Origin": "http://vigil.example"}, true},
		{"cross-site form post", http.MethodPost, "/api/v1/services", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, false},
		{"same-site is not same-origin", http.MethodPost, "/api/v1/services/x/pause", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://other.vigil.example"}, false},
		{"old browser, other origin", http.MethodPatch, "/api/v1/services/x", map[string]string{"Origin": "https://attacker.example"}, false},
		{"other port is another origin", http.MethodDelete, "/api/v1/services/x", map[string]string{"Origin": "http://vigil.example:8081"}, false},
		{"opaque origin", http.MethodPost, "/api/v1/services", map[string]string{"Origin": "null"}, false},
		{"cross-site write outside the API", http.MethodPost, "/", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		// Reading is what CORS already protects: a foreign page may send a
		// GET but never read the answer.
		{"cross-site read", http.MethodGet, "/api/v1/services", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, true},
		// The WebSocket is a GET that opens a channel the page can read.
		{"cross-site websocket", http.MethodGet, "/ws", map[string]string{"Origin": "https://attacker.example"}, false},
		{"cross-site websocket by fetch metadata", http.MethodGet, "/ws?since=3", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, false},
		{"same-origin websocket", http.MethodGet, "/ws", map[string]string{"Origin": "http://vigil.example"}, true},
		{"websocket without a browser", http.MethodGet, "/ws", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{}`))
			req.Host = "vigil.example"
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp := guarded(t, GuardConfig{}, req)
			if tt.ok {
				require.Equal(t, http.StatusNoContent, resp.status, "body: %s", resp.body)
				return
			}
			requireError(t, resp, http.StatusForbidden, CodeCrossOrigin, "")
		})
	}
}
