package browser

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/pgtest"
)

// runFunc is the shape of app.RunServer and app.RunWorker.
type runFunc func(ctx context.Context, cfg config.Config, log *zap.Logger, hooks app.Hooks) error

// amqpBaseURL is the broker tests use.
func amqpBaseURL() string {
	if u := os.Getenv("VIGIL_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

func randomSuffix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// vhostURL creates a RabbitMQ vhost of the test's own, deleted when the
// test ends, and returns the broker URL that points at it. Vigil's queue
// and exchange names are fixed, so a vhost is what keeps parallel test
// packages from stealing each other's jobs.
func vhostURL(t *testing.T) string {
	t.Helper()
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		t.Fatalf("rabbitmqctl is required to give the test its own vhost: %v", err)
	}
	vhost := "vigil-browser-" + randomSuffix()
	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	require.NoError(t, run("add_vhost", vhost), "RabbitMQ must be running")
	t.Cleanup(func() {
		if err := run("delete_vhost", vhost); err != nil {
			t.Logf("delete vhost: %v", err)
		}
	})
	require.NoError(t, run("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"))

	u, err := url.Parse(amqpBaseURL())
	require.NoError(t, err)
	u.Path = "/" + vhost
	u.RawPath = ""
	return u.String()
}

// process is one running Vigil process (a server or a worker).
type process struct {
	name   string
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// start runs fn until stop or the end of the test and waits until it
// listens. A process that dies early fails the test with its error.
func start(t *testing.T, name string, fn runFunc, cfg config.Config, log *zap.Logger) *process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan net.Addr, 1)
	p := &process{name: name, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- fn(ctx, cfg, log.Named(name), app.Hooks{Listening: listening}) }()
	select {
	case a := <-listening:
		p.addr = a.String()
	case err := <-p.done:
		cancel()
		t.Fatalf("%s exited before listening: %v", name, err)
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatalf("%s did not listen within 90s", name)
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop cancels the process and waits for a clean exit; it is idempotent.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v", p.name, err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not stop within 60s", p.name)
	}
}

// baseConfig is Vigil's defaults pointed at the test's own schema and vhost.
func baseConfig(t *testing.T) config.Config {
	cfg := config.Defaults()
	cfg.DatabaseURL = pgtest.Schema(t)
	cfg.AMQPURL = vhostURL(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DenyNetworks = "" // the targets are on loopback
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Concurrency = 8
	cfg.DBMaxConns = 4
	return cfg
}

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// target is an HTTP service to monitor whose health the test flips.
type target struct {
	srv    *httptest.Server
	status atomic.Int32
}

func newTarget(t *testing.T) *target {
	tg := &target{}
	tg.status.Store(http.StatusOK)
	var n atomic.Int64
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// A little varying latency gives the sparklines a shape.
		time.Sleep(time.Duration(n.Add(1)%7+1) * time.Millisecond)
		w.WriteHeader(int(tg.status.Load()))
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) set(status int) { tg.status.Store(int32(status)) }

// apiClient talks to Vigil's REST API the way a user's script would.
type apiClient struct {
	t    *testing.T
	base string
}

func (c apiClient) call(method, path string, body any, want int, out any) {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer func() { _ = res.Body.Close() }()
	var raw json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&raw)
	require.Equal(c.t, want, res.StatusCode, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(raw, out))
	}
}

type service struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

func (c apiClient) register(name, targetURL string, tags ...string) service {
	c.t.Helper()
	var s service
	c.call(http.MethodPost, "/api/v1/services", map[string]any{
		"name": name, "url": targetURL, "interval_seconds": 1, "timeout_seconds": 0.8, "tags": tags,
	}, http.StatusCreated, &s)
	return s
}

func (c apiClient) status(id string) string {
	c.t.Helper()
	var s service
	c.call(http.MethodGet, "/api/v1/services/"+id, nil, http.StatusOK, &s)
	return s.Status
}

// requireServesDashboard fails early, and says why, when the server does
// not mount the dashboard or the WebSocket: otherwise the browser would
// just time out waiting for rows.
func requireServesDashboard(t *testing.T, base string) {
	t.Helper()
	res, err := http.Get(base + "/")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode,
		"GET / must serve the dashboard: mount dashboard.Handler() via api.Config.Extra in internal/app")
	require.Contains(t, res.Header.Get("Content-Type"), "text/html")

	res, err = http.Get(base + "/ws")
	require.NoError(t, err)
	_ = res.Body.Close()
	require.NotEqual(t, http.StatusNotFound, res.StatusCode,
		"GET /ws must be the WebSocket hub: set api.Config.WebSocket in internal/app")
}
