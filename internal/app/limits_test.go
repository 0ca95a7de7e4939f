package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/api"
	"github.com/vigil-dev/vigil/internal/auth"
	"github.com/vigil-dev/vigil/internal/broadcast"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
)

// serve runs serveHTTP with limits on a loopback port until the test ends
// and returns the address.
func serve(t *testing.T, h http.Handler, limits httpLimits, onShutdown func()) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveHTTP(ctx, "127.0.0.1:0", h, limits, 5*time.Second, zap.NewNop(), ready, onShutdown)
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case a := <-ready:
		return a.String()
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return ""
}

// A client that promises a body and sends it a byte at a time (or not at
// all) is cut off by the read timeout instead of holding its connection
// and the handler's goroutine for as long as it likes.
func TestSlowBodyIsCutOff(t *testing.T) {
	readBody := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	addr := serve(t, readBody, httpLimits{ReadHeader: time.Second, Read: 300 * time.Millisecond, Write: time.Minute, Idle: time.Minute}, nil)

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = io.WriteString(conn, "POST /api/v1/services HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{")
	require.NoError(t, err)

	// Generous: the point is that the server closes the connection at
	// all, which without a read timeout it never does.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server must close a connection whose body stalls")
}

// The read and write timeouts end HTTP requests, not WebSockets: the
// upgrade clears the deadlines the server set, so a client outlives them.
func TestWebSocketOutlivesTheHTTPTimeouts(t *testing.T) {
	hub := broadcast.New(broadcast.Config{})
	limits := httpLimits{ReadHeader: 200 * time.Millisecond, Read: 200 * time.Millisecond, Write: 200 * time.Millisecond, Idle: 200 * time.Millisecond}
	addr := serve(t, hub, limits, hub.Close)

	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	defer func() { _ = conn.Close() }()
	require.Eventually(t, func() bool { return hub.Clients() == 1 }, 10*time.Second, 5*time.Millisecond)

	time.Sleep(5 * limits.Read) // well past every HTTP deadline
	hub.Publish(check.Transition{ID: 7, CheckID: "c", Service: "s", From: check.StateUp, To: check.StateDown, At: time.Now()})
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	var ev broadcast.Event
	require.NoError(t, conn.ReadJSON(&ev), "the connection survived the HTTP timeouts")
	require.Equal(t, int64(7), ev.ID)
}

// Headers beyond MaxHeaderBytes are refused before any handler runs.
func TestLargeHeadersAreRefused(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	addr := serve(t, ok, defaultLimits, nil)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	require.NoError(t, err)
	req.Header.Set("X-Padding", strings.Repeat("p", 2*defaultLimits.MaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

// The worker's /readyz names what is down, never why: the cause can hold
// hosts, users or a password, and the port is open to anyone. The log
// gets the cause.
func TestWorkerReadinessHidesTheCause(t *testing.T) {
	const cause = "failed to connect to `user=vigil`: 10.1.2.3:5432: password authentication failed"
	core, logs := observer.New(zapcore.DebugLevel)
	var readyErr error = &api.UnreadyError{Down: []string{"database", "broker"}, Err: errors.New(cause)}
	h := healthHandler(func(context.Context) error { return readyErr }, http.NotFoundHandler(), zap.New(core))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.JSONEq(t, `{"status":"unavailable","down":["database","broker"]}`, rec.Body.String())
	entries := logs.FilterMessage("not ready").All()
	require.Len(t, entries, 1)
	require.Contains(t, entries[0].ContextMap()["error"], cause)

	readyErr = errors.New(cause) // not an UnreadyError: still no text
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.JSONEq(t, `{"status":"unavailable","down":[]}`, rec.Body.String())

	readyErr = nil
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"status":"ok"}`, rec.Body.String())
}

func TestWarnIfOpen(t *testing.T) {
	tests := []struct {
		addr string
		auth auth.Config
		warn bool
	}{
		{":8080", auth.Config{}, true},
		{"0.0.0.0:8080", auth.Config{}, true},
		{"10.0.0.5:8080", auth.Config{}, true},
		{"127.0.0.1:8080", auth.Config{}, false},
		{"[::1]:8080", auth.Config{}, false},
		{":8080", auth.Config{Tokens: []string{"t"}}, false},
	}
	for _, tt := range tests {
		core, logs := observer.New(zapcore.WarnLevel)
		warnIfOpen(zap.New(core), tt.auth, tt.addr)
		require.Equal(t, tt.warn, logs.Len() == 1, "%s %s", tt.addr, tt.auth)
	}
}

// Profiles are served on their own loopback listener only: they show the
// command line, with the broker's password in it.
func TestPprofListener(t *testing.T) {
	cfg := config.Defaults()
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.PprofAddr = "0.0.0.0:0"
	require.ErrorContains(t, servePprof(t.Context(), cfg, zap.NewNop(), nil), "loopback")

	cfg.PprofAddr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- servePprof(ctx, cfg, zap.NewNop(), ready) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	addr := <-ready
	resp, err := http.Get("http://" + addr.String() + "/debug/pprof/cmdline")
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cmdline, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NotEmpty(t, cmdline)
}
