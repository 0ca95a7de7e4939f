package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/pgtest"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageAndVersion(t *testing.T) {
	code, _, stderr := runCmd(t)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "vigil server")

	code, stdout, _ := runCmd(t, "help")
	require.Zero(t, code)
	require.Contains(t, stdout, "vigil worker")

	code, stdout, _ = runCmd(t, "version")
	require.Zero(t, code)
	require.Equal(t, "vigil dev\n", stdout)

	code, _, stderr = runCmd(t, "launch")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `unknown command "launch"`)

	code, _, _ = runCmd(t, "server", "-h")
	require.Zero(t, code)
}

func TestBadSettingsExitWithAClearError(t *testing.T) {
	t.Setenv("VIGIL_WORKER_CONCURRENCY", "lots")
	code, _, stderr := runCmd(t, "worker")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "VIGIL_WORKER_CONCURRENCY")

	t.Setenv("VIGIL_WORKER_CONCURRENCY", "0")
	code, _, stderr = runCmd(t, "worker")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "at least 1")

	t.Setenv("VIGIL_WORKER_CONCURRENCY", "4")
	code, _, stderr = runCmd(t, "worker", "--log-level", "loud")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "log level")

	// The probe policy is read before anything connects, and a bad one
	// stops the worker rather than falling back to a default.
	code, _, stderr = runCmd(t, "worker", "--deny-networks", "shared-cluster,metadata")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "VIGIL_DENY_NETWORKS")
	code, _, stderr = runCmd(t, "worker", "--allow-networks", "10.20.0.0/33")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "VIGIL_ALLOW_NETWORKS")
	t.Setenv("VIGIL_PROBE_METHODS", "GET,GE T")
	code, _, stderr = runCmd(t, "worker")
	require.Equal(t, 2, code, "config.Validate reads the methods, as for server and operator")
	require.Contains(t, stderr, "VIGIL_PROBE_METHODS")
	t.Setenv("VIGIL_PROBE_METHODS", "GET")

	code, _, _ = runCmd(t, "migrate", "stray")
	require.Equal(t, 2, code)
}

func TestMigrate(t *testing.T) {
	url := pgtest.Schema(t)
	code, _, stderr := runCmd(t, "migrate", "--database-url", url)
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "database schema ready")

	code, _, stderr = runCmd(t, "migrate", "--db-wait", "1s", "--database-url", "postgres://nobody@127.0.0.1:1/x?connect_timeout=1")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "exiting on error")
}

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer bad.Close()

	code, _, _ := runCmd(t, "healthcheck", ok.URL)
	require.Zero(t, code)
	code, _, stderr := runCmd(t, "healthcheck", bad.URL)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "503")
	code, _, _ = runCmd(t, "healthcheck", "http://127.0.0.1:1/")
	require.Equal(t, 1, code)
	code, _, _ = runCmd(t, "healthcheck")
	require.Equal(t, 2, code)
	code, _, _ = runCmd(t, "healthcheck", "::bad url")
	require.Equal(t, 2, code)
}
