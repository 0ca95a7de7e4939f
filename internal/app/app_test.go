package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/amqptest"
	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/pgtest"
)

// system is a server and a worker running in-process against the real
// PostgreSQL and RabbitMQ, each test in its own schema and vhost.
type system struct {
	api    string
	worker string
	stop   func()
}

func testConfig(t testing.TB) config.Config {
	cfg := config.Defaults()
	cfg.DatabaseURL = pgtest.Schema(t)
	cfg.AMQPURL = amqptest.Vhost(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.DenyNetworks = "" // targets are httptest servers on loopback
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

func start(t testing.TB, cfg config.Config, log *zap.Logger) *system {
	t.Helper()
	return startWith(t, cfg, log, app.Hooks{})
}

func startWith(t testing.TB, cfg config.Config, log *zap.Logger, hooks app.Hooks) *system {
	t.Helper()
	return startPair(t, cfg, cfg, log, hooks)
}

// startPair starts a server with cfg and a worker with wcfg, for tests of
// what travels between two processes configured apart.
func startPair(t testing.TB, cfg, wcfg config.Config, log *zap.Logger, hooks app.Hooks) *system {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	apiAddr, workerAddr := make(chan net.Addr, 1), make(chan net.Addr, 1)
	serverHooks := hooks
	serverHooks.Listening = apiAddr
	go func() { errs <- app.RunServer(ctx, cfg, log.Named("server"), serverHooks) }()
	s := &system{}
	select {
	case a := <-apiAddr:
		s.api = "http://" + a.String()
	case err := <-errs:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	// The server migrated; the worker need not.
	wcfg.Migrate = false
	go func() { errs <- app.RunWorker(ctx, wcfg, log.Named("worker"), app.Hooks{Listening: workerAddr}) }()
	select {
	case a := <-workerAddr:
		s.worker = "http://" + a.String()
	case err := <-errs:
		cancel()
		t.Fatalf("worker did not start: %v", err)
	}
	var stopped bool
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for range 2 {
			select {
			case err := <-errs:
				require.NoError(t, err, "processes exit cleanly on shutdown")
			case <-time.After(20 * time.Second):
				t.Fatal("processes did not stop")
			}
		}
	}
	t.Cleanup(s.stop)
	return s
}

// target is an httptest server whose health the test flips.
func target(t testing.TB) (*httptest.Server, *atomic.Bool) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &down
}

func call(t testing.TB, method, url string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

type service struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type results struct {
	Items []struct {
		Status      string    `json:"status"`
		ScheduledAt time.Time `json:"scheduled_at"`
		CheckedAt   time.Time `json:"checked_at"`
		HTTPStatus  int       `json:"http_status"`
	} `json:"items"`
}

// The promise: register over REST, results in PostgreSQL within
// two intervals.
func TestRegisterThenResultsWithinTwoIntervals(t *testing.T) {
	t.Parallel()
	sys := start(t, testConfig(t), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	srv, _ := target(t)

	var sv service
	require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
		"name": "example", "url": srv.URL + "/health", "interval_seconds": 1, "timeout_seconds": 0.5,
	}, &sv))
	require.NotEmpty(t, sv.ID)
	registered := time.Now()

	var res results
	require.Eventually(t, func() bool {
		call(t, "GET", sys.api+"/api/v1/services/"+sv.ID+"/results", nil, &res)
		return len(res.Items) > 0
	}, 2*time.Second+500*time.Millisecond, 50*time.Millisecond, "a result within two intervals")
	require.Equal(t, "UP", res.Items[0].Status)
	require.Equal(t, 200, res.Items[0].HTTPStatus)
	require.WithinDuration(t, registered, res.Items[0].ScheduledAt, 2*time.Second)

	require.Eventually(t, func() bool {
		call(t, "GET", sys.api+"/api/v1/services/"+sv.ID, nil, &sv)
		return sv.Status == "UP"
	}, 5*time.Second, 50*time.Millisecond)

	for _, path := range []string{sys.api + "/healthz", sys.api + "/readyz", sys.worker + "/healthz", sys.worker + "/readyz"} {
		require.Equal(t, http.StatusOK, call(t, "GET", path, nil, nil), path)
	}
	sys.stop()
}

func TestTwoWorkersShareTheLoad(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	sys := start(t, cfg, log)
	// A second worker process, as `--scale worker=2` would add.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg.Migrate = false
	go func() { done <- app.RunWorker(ctx, cfg, log, app.Hooks{}) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	srv, _ := target(t)
	ids := make([]string, 20)
	for i := range ids {
		var sv service
		require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
			"name": fmt.Sprintf("svc-%d", i), "url": srv.URL, "interval_seconds": 1,
		}, &sv))
		ids[i] = sv.ID
	}
	require.Eventually(t, func() bool {
		for _, id := range ids {
			var res results
			call(t, "GET", sys.api+"/api/v1/services/"+id+"/results?limit=3", nil, &res)
			if len(res.Items) < 3 {
				return false
			}
		}
		return true
	}, 10*time.Second, 100*time.Millisecond)
	// No tick was recorded twice: the ticks of each check are distinct.
	for _, id := range ids {
		var res results
		call(t, "GET", sys.api+"/api/v1/services/"+id+"/results?limit=1000", nil, &res)
		seen := map[time.Time]bool{}
		for _, r := range res.Items {
			require.False(t, seen[r.ScheduledAt], "tick %s recorded twice", r.ScheduledAt)
			seen[r.ScheduledAt] = true
		}
	}
}
