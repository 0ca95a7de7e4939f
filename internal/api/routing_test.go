package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/registry"
)

func TestUnknownRoutesAndMethods(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/api/v1/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v2/services", http.StatusNotFound, ""},
		{http.MethodGet, "/api/v1/services/" + id + "/nope", http.StatusNotFound, ""},
		{http.MethodGet, "/", http.StatusNotFound, ""},
		{http.MethodGet, "/favicon.ico", http.StatusNotFound, ""},
		{http.MethodPut, "/api/v1/services", http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{http.MethodDelete, "/api/v1/services", http.StatusMethodNotAllowed, "GET, HEAD, POST"},
		{http.MethodPut, "/api/v1/services/" + id, http.StatusMethodNotAllowed, "DELETE, GET, HEAD, PATCH"},
		{http.MethodGet, "/api/v1/services/" + id + "/pause", http.StatusMethodNotAllowed, "POST"},
		{http.MethodPost, "/api/v1/services/" + id + "/results", http.StatusMethodNotAllowed, "GET, HEAD"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp := h.do(tt.method, tt.path, "")
			code := CodeNotFound
			if tt.status == http.StatusMethodNotAllowed {
				code = CodeMethodNotAllowed
			}
			requireError(t, resp, tt.status, code, "")
			require.Equal(t, tt.allow, resp.header.Get("Allow"))
		})
	}
}

func TestHealthAndReady(t *testing.T) {
	var readyErr error
	h := newHarness(t, func(c *Config) {
		c.Ready = func(context.Context) error { return readyErr }
	})
	resp := h.do(http.MethodGet, "/healthz", "")
	require.Equal(t, http.StatusOK, resp.status)
	require.JSONEq(t, `{"status":"ok"}`, string(resp.body))

	resp = h.do(http.MethodGet, "/readyz", "")
	require.Equal(t, http.StatusOK, resp.status)
	require.JSONEq(t, `{"status":"ok"}`, string(resp.body))

	readyErr = errors.New("ping database: connection refused")
	requireError(t, h.do(http.MethodGet, "/readyz", ""), http.StatusServiceUnavailable, CodeNotReady, "")
	entries := h.logs.FilterMessage("request failed").All()
	require.Len(t, entries, 1)
	require.Equal(t, "ping database: connection refused", entries[0].ContextMap()["error"])

	// The answer names what is down; the cause, which may name hosts,
	// users or a password the driver echoed, is for the log only.
	const cause = "failed to connect to `user=vigil database=vigil`: 10.1.2.3:5432: password authentication failed"
	readyErr = &UnreadyError{Down: []string{"database"}, Err: errors.New(cause)}
	resp = h.do(http.MethodGet, "/readyz", "")
	requireError(t, resp, http.StatusServiceUnavailable, CodeNotReady, "")
	require.Contains(t, string(resp.body), "database unavailable")
	require.NotContains(t, string(resp.body), "10.1.2.3")
	require.NotContains(t, string(resp.body), "password")
	entries = h.logs.FilterMessage("request failed").All()
	require.Len(t, entries, 2)
	require.Contains(t, entries[1].ContextMap()["error"], cause)

	t.Run("no ready func means ready", func(t *testing.T) {
		h := newHarness(t)
		require.Equal(t, http.StatusOK, h.do(http.MethodGet, "/readyz", "").status)
	})
}

func TestWebSocketAndExtraRoutes(t *testing.T) {
	ws := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// What the WebSocket upgrade needs: the connection behind every
		// wrapper the API puts around the ResponseWriter.
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer func() { _ = conn.Close() }()
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		_ = brw.Flush()
	})
	core, logs := observer.New(zapcore.DebugLevel)
	srv := New(Config{
		Logger:    zap.New(core),
		Registry:  newFakeRegistry(func() time.Time { return testNow }),
		WebSocket: ws,
		Extra: func(mux *http.ServeMux) {
			mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics") })
			mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "dashboard") })
		},
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	get := func(method, path string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, ts.URL+path, nil)
		require.NoError(t, err)
		resp, err := ts.Client().Do(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, string(b)
	}

	status, _, body := get(http.MethodGet, "/ws")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "hijacked", body)
	require.Eventually(t, func() bool { return logs.FilterField(zap.Int("http_status", http.StatusSwitchingProtocols)).Len() == 1 },
		5*time.Second, time.Millisecond, "the upgrade is logged as 101")

	status, _, body = get(http.MethodGet, "/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "metrics", body)

	status, _, body = get(http.MethodGet, "/some/dashboard/page")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "dashboard", body)

	// The dashboard's catch-all must not swallow the API's own errors.
	status, _, body = get(http.MethodGet, "/api/v1/nope")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, CodeNotFound)
	status, hdr, body := get(http.MethodPut, "/api/v1/services")
	require.Equal(t, http.StatusMethodNotAllowed, status)
	require.Equal(t, "GET, HEAD, POST", hdr.Get("Allow"))
	require.Contains(t, body, CodeMethodNotAllowed)
	status, _, body = get(http.MethodPost, "/ws")
	require.Equal(t, http.StatusMethodNotAllowed, status)
	require.Contains(t, body, CodeMethodNotAllowed)

	t.Run("no websocket handler", func(t *testing.T) {
		h := newHarness(t)
		requireError(t, h.do(http.MethodGet, "/ws", ""), http.StatusNotFound, CodeNotFound, "")
	})
	t.Run("unclean paths redirect", func(t *testing.T) {
		h := newHarness(t)
		resp := h.do(http.MethodGet, "/api/v1//services", "")
		require.Equal(t, http.StatusTemporaryRedirect, resp.status)
		require.Equal(t, "/api/v1/services", resp.header.Get("Location"))
	})
}

func TestReadOnly(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ReadOnly = true })
	// The operator's reconciler fills the registry in Kubernetes mode.
	id := h.reg.mustCreate(t, "payments")

	writes := []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/services", `{"name":"a","url":"http://a.example","interval_seconds":5}`},
		{http.MethodPost, "/api/v1/services", `not even json`},
		{http.MethodPatch, "/api/v1/services/" + id, `{"name":"b"}`},
		{http.MethodDelete, "/api/v1/services/" + id, ""},
		{http.MethodPost, "/api/v1/services/" + id + "/pause", ""},
		{http.MethodPost, "/api/v1/services/" + id + "/resume", ""},
	}
	for _, w := range writes {
		t.Run(w.method+" "+w.path, func(t *testing.T) {
			resp := h.do(w.method, w.path, w.body)
			require.Equal(t, http.StatusForbidden, resp.status)
			require.JSONEq(t, `{"error":{"code":"read_only","message":"services are managed as ServiceCheck resources in Kubernetes mode"}}`,
				string(resp.body))
		})
	}
	svc, err := h.reg.GetService(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, "payments", svc.Name)
	require.False(t, svc.Paused)

	for _, p := range []string{"/api/v1/services", "/api/v1/services/" + id, "/api/v1/services/" + id + "/results",
		"/api/v1/services/" + id + "/transitions", "/api/v1/services/" + id + "/uptime"} {
		t.Run("GET "+p, func(t *testing.T) {
			require.Equal(t, http.StatusOK, h.do(http.MethodGet, p, "").status)
		})
	}
}

func TestRegistryFailures(t *testing.T) {
	routes := []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/services", `{"name":"a","url":"http://a.example","interval_seconds":5}`},
		{http.MethodGet, "/api/v1/services", ""},
		{http.MethodGet, "/api/v1/services/svc-1", ""},
		{http.MethodPatch, "/api/v1/services/svc-1", `{"name":"b"}`},
		{http.MethodDelete, "/api/v1/services/svc-1", ""},
		{http.MethodPost, "/api/v1/services/svc-1/pause", ""},
		{http.MethodPost, "/api/v1/services/svc-1/resume", ""},
		{http.MethodGet, "/api/v1/services/svc-1/results", ""},
		{http.MethodGet, "/api/v1/services/svc-1/transitions", ""},
		{http.MethodGet, "/api/v1/services/svc-1/uptime", ""},
	}
	for _, rt := range routes {
		t.Run("error "+rt.method+" "+rt.path, func(t *testing.T) {
			h := newHarness(t)
			h.reg.failWith = errors.New("query services: connection reset by peer")
			requireError(t, h.do(rt.method, rt.path, rt.body), http.StatusInternalServerError, CodeInternal, "")
			entries := h.logs.FilterLevelExact(zapcore.ErrorLevel).All()
			require.Len(t, entries, 1)
			require.Equal(t, "request failed", entries[0].Message)
			fields := entries[0].ContextMap()
			require.Equal(t, "query services: connection reset by peer", fields["error"])
			require.Equal(t, int64(http.StatusInternalServerError), fields["http_status"])
		})
		t.Run("panic "+rt.method+" "+rt.path, func(t *testing.T) {
			h := newHarness(t)
			h.reg.panicWith = "nil map write"
			requireError(t, h.do(rt.method, rt.path, rt.body), http.StatusInternalServerError, CodeInternal, "")
			require.Len(t, h.logs.FilterMessage("handler panicked").All(), 1)
			require.Len(t, h.logs.FilterMessage("request failed").All(), 1)
		})
	}
	t.Run("a wrapped sentinel is still a sentinel", func(t *testing.T) {
		h := newHarness(t)
		h.reg.failWith = errors.Join(errors.New("store"), registry.ErrNotFound)
		requireError(t, h.do(http.MethodGet, "/api/v1/services/x", ""), http.StatusNotFound, CodeNotFound, "")
	})
	t.Run("client gone is not an error log", func(t *testing.T) {
		h := newHarness(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		h.reg.failWith = context.Canceled
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/v1/services", nil)
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		require.Equal(t, statusClientClosed, rec.Code)
		require.Empty(t, h.logs.FilterLevelExact(zapcore.ErrorLevel).All())
	})
	t.Run("an abort panic is left to net/http", func(t *testing.T) {
		h := newHarness(t)
		h.reg.panicWith = http.ErrAbortHandler
		require.PanicsWithValue(t, http.ErrAbortHandler, func() { h.do(http.MethodGet, "/api/v1/services", "") })
	})
}

func TestRequestLogging(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	h.do(http.MethodGet, "/api/v1/services/"+id, "")
	h.do(http.MethodGet, "/api/v1/services/nope", "")

	var requests []map[string]any
	for _, e := range h.logs.FilterMessage("request").All() {
		require.Equal(t, zapcore.DebugLevel, e.Level)
		requests = append(requests, e.ContextMap())
	}
	require.Len(t, requests, 3)
	require.Equal(t, "POST", requests[0]["method"])
	require.Equal(t, int64(http.StatusCreated), requests[0]["http_status"])
	require.Equal(t, "GET /api/v1/services/{id}", requests[1]["route"])
	require.Equal(t, id, requests[1]["check_id"])
	require.Equal(t, int64(http.StatusNotFound), requests[2]["http_status"])

	registered := h.logs.FilterMessage("service registered").All()
	require.Len(t, registered, 1)
	require.Equal(t, "payments", registered[0].ContextMap()["service"])
	require.Equal(t, id, registered[0].ContextMap()["check_id"])
	require.False(t, strings.ContainsAny(registered[0].Message, "ABCDEFGHIJKLMNOPQRSTUVWXYZ%"), "lowercase, no printf")
}
