package config_test

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/broadcast"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/probe"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/scheduler"
	"github.com/vigil-dev/vigil/internal/worker"
)

func bind(c *config.Config) *config.Set {
	s := config.NewSet("test", io.Discard)
	c.BindRuntime(s)
	s.Int(&c.Concurrency, "concurrency", "VIGIL_WORKER_CONCURRENCY", "probes at once")
	return s
}

func TestPrecedence(t *testing.T) {
	t.Setenv("VIGIL_DATABASE_URL", "postgres://env")
	t.Setenv("VIGIL_WORKER_CONCURRENCY", "12")
	t.Setenv("VIGIL_MIGRATE", "false")
	t.Setenv("VIGIL_SHUTDOWN_TIMEOUT", "5s")
	c := config.Defaults()
	require.NoError(t, bind(&c).Parse([]string{"--database-url", "postgres://flag"}))
	require.Equal(t, "postgres://flag", c.DatabaseURL, "a flag wins over the environment")
	require.Equal(t, 12, c.Concurrency, "the environment wins over the default")
	require.False(t, c.Migrate)
	require.Equal(t, 5*time.Second, c.ShutdownTimeout)
	require.Equal(t, ":8080", config.Defaults().HTTPAddr)
	require.NoError(t, c.Validate())
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Setenv("VIGIL_WORKER_CONCURRENCY", "many")
	t.Setenv("VIGIL_MIGRATE", "perhaps")
	t.Setenv("VIGIL_SHUTDOWN_TIMEOUT", "soon")
	c := config.Defaults()
	err := bind(&c).Parse(nil)
	require.ErrorContains(t, err, "VIGIL_WORKER_CONCURRENCY")
	require.ErrorContains(t, err, "VIGIL_MIGRATE")
	require.ErrorContains(t, err, "VIGIL_SHUTDOWN_TIMEOUT")
}

func TestParseRejectsStrayArguments(t *testing.T) {
	c := config.Defaults()
	require.Error(t, bind(&c).Parse([]string{"extra"}))
	require.Error(t, bind(&c).Parse([]string{"--nope"}))
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*config.Config){
		"VIGIL_DATABASE_URL":            func(c *config.Config) { c.DatabaseURL = "" },
		"VIGIL_WORKER_CONCURRENCY":      func(c *config.Config) { c.Concurrency = 0 },
		"VIGIL_REGION":                  func(c *config.Config) { c.Region = "EU-west" },
		"VIGIL_DB_MAX_CONNS":            func(c *config.Config) { c.DBMaxConns = 0 },
		"VIGIL_SCHEDULER_BATCH":         func(c *config.Config) { c.BatchSize = 0 },
		"VIGIL_SCHEDULER_PARALLEL":      func(c *config.Config) { c.Parallel = 0 },
		"VIGIL_JOBS_PER_MESSAGE":        func(c *config.Config) { c.JobsPerMessage = 0 },
		"VIGIL_MAX_DELIVERIES":          func(c *config.Config) { c.MaxDeliveries = 0 },
		"VIGIL_SHUTDOWN_TIMEOUT":        func(c *config.Config) { c.ShutdownTimeout = 0 },
		"VIGIL_PROBE_METHODS":           func(c *config.Config) { c.ProbeMethods = "GET,NOT A METHOD" },
		"VIGIL_WS_MAX_CLIENTS":          func(c *config.Config) { c.WSMaxClients = 0 },
		"VIGIL_ALLOWED_HOSTS":           func(c *config.Config) { c.AllowedHosts = "vigil.example,https://vigil.example/" },
		"VIGIL_PPROF_ADDR":              func(c *config.Config) { c.Pprof, c.PprofAddr = true, ":6060" },
		"VIGIL_WS_MAX_CLIENTS_PER_ADDR": func(c *config.Config) { c.WSMaxClientsPerAddr = 0 },
		"VIGIL_PROBE_MAX_PER_HOST":      func(c *config.Config) { c.ProbeMaxPerHost = 0 },
		"VIGIL_MAX_JOB_AGE":             func(c *config.Config) { c.MaxJobAge = time.Second },
		"VIGIL_MAX_QUEUE_LAG":           func(c *config.Config) { c.MaxQueueLag = 0 },
		"VIGIL_MAX_QUEUE_WAIT":          func(c *config.Config) { c.MaxQueueWait = 0 },
	} {
		c := config.Defaults()
		mutate(&c)
		require.ErrorContains(t, c.Validate(), name)
	}
}

// A setting whose package has a default offers that default, so that the
// flag and the package cannot drift apart.
func TestDefaultsAreThePackagesDefaults(t *testing.T) {
	c := config.Defaults()
	require.Equal(t, check.SafeMethods, c.ProbeMethods)
	require.Equal(t, broadcast.DefaultMaxClients, c.WSMaxClients)
	require.Equal(t, broadcast.DefaultMaxClientsPerAddr, c.WSMaxClientsPerAddr)
	require.Equal(t, scheduler.DefaultBatchSize, c.BatchSize)
	require.Equal(t, scheduler.DefaultParallel, c.Parallel)
	require.Equal(t, scheduler.DefaultCatchUp, c.CatchUp)
	require.Equal(t, queue.DefaultJobsPerMessage, c.JobsPerMessage)
	require.Equal(t, queue.DefaultMaxDeliveries, c.MaxDeliveries)
	require.Equal(t, worker.DefaultMaxJobAge, c.MaxJobAge)
	require.Equal(t, scheduler.DefaultMaxQueueLag, c.MaxQueueLag)
	require.Equal(t, worker.DefaultMaxQueueWait, c.MaxQueueWait)
	require.Equal(t, 2*scheduler.DefaultCatchUp, worker.DefaultMaxJobAge,
		"by default workers probe every tick the scheduler dispatches late after an outage, with a window to reach them")
	require.NoError(t, c.Validate())
}

// VIGIL_MAX_JOB_AGE is at least the floor against clock skew, or negative
// to turn shedding off; zero is neither.
func TestMaxJobAge(t *testing.T) {
	for _, tt := range []struct {
		age time.Duration
		ok  bool
	}{
		{worker.MinMaxJobAge, true},
		{worker.MinMaxJobAge - time.Millisecond, false},
		{0, false},
		{-1, true},
		{time.Hour, true},
	} {
		c := config.Defaults()
		c.MaxJobAge = tt.age
		if tt.ok {
			require.NoError(t, c.Validate(), tt.age)
		} else {
			require.ErrorContains(t, c.Validate(), "VIGIL_MAX_JOB_AGE", tt.age)
		}
	}
}

// VIGIL_MAX_QUEUE_WAIT likewise, with its own floor.
func TestMaxQueueWait(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		ok   bool
	}{
		{worker.MinMaxQueueWait, true},
		{worker.MinMaxQueueWait - time.Millisecond, false},
		{0, false},
		{-1, true},
		{time.Minute, true},
	} {
		c := config.Defaults()
		c.MaxQueueWait = tt.wait
		if tt.ok {
			require.NoError(t, c.Validate(), tt.wait)
		} else {
			require.ErrorContains(t, c.Validate(), "VIGIL_MAX_QUEUE_WAIT", tt.wait)
		}
	}
}

// VIGIL_MAX_QUEUE_LAG is at least the depth poll's period, or negative to
// turn admission control off; zero is neither.
func TestMaxQueueLag(t *testing.T) {
	for _, tt := range []struct {
		lag time.Duration
		ok  bool
	}{
		{scheduler.MinMaxQueueLag, true},
		{scheduler.MinMaxQueueLag - time.Millisecond, false},
		{0, false},
		{-1, true},
		{time.Minute, true},
	} {
		c := config.Defaults()
		c.MaxQueueLag = tt.lag
		if tt.ok {
			require.NoError(t, c.Validate(), tt.lag)
		} else {
			require.ErrorContains(t, c.Validate(), "VIGIL_MAX_QUEUE_LAG", tt.lag)
		}
	}
}

func TestJobsPerMessage(t *testing.T) {
	bindScheduler := func(c *config.Config) *config.Set {
		s := config.NewSet("test", io.Discard)
		c.BindScheduler(s)
		return s
	}
	c := config.Defaults()
	require.Equal(t, queue.DefaultJobsPerMessage, c.JobsPerMessage)

	t.Setenv("VIGIL_JOBS_PER_MESSAGE", "7")
	c = config.Defaults()
	require.NoError(t, bindScheduler(&c).Parse(nil))
	require.Equal(t, 7, c.JobsPerMessage)
	require.NoError(t, bindScheduler(&c).Parse([]string{"--jobs-per-message", "1"}))
	require.Equal(t, 1, c.JobsPerMessage, "1 is allowed: the old one job per message")
	require.NoError(t, c.Validate())

	for _, bad := range []int{-1, 0, queue.MaxJobsPerMessage + 1} {
		c.JobsPerMessage = bad
		require.ErrorContains(t, c.Validate(), "VIGIL_JOBS_PER_MESSAGE", "%d", bad)
	}
	c.JobsPerMessage = queue.MaxJobsPerMessage
	require.NoError(t, c.Validate(), "the queue's maximum is allowed")

	t.Setenv("VIGIL_JOBS_PER_MESSAGE", "lots")
	c = config.Defaults()
	require.ErrorContains(t, bindScheduler(&c).Parse(nil), "VIGIL_JOBS_PER_MESSAGE")
}

func TestBindProbe(t *testing.T) {
	bindProbe := func(c *config.Config) *config.Set {
		s := config.NewSet("test", io.Discard)
		c.BindProbe(s)
		return s
	}
	c := config.Defaults()
	require.Equal(t, "169.254.0.0/16,fe80::/10", c.DenyNetworks, "compose mode keeps the link-local default")
	require.Empty(t, c.AllowNetworks)
	require.Equal(t, "GET,HEAD,OPTIONS", c.ProbeMethods)
	require.Equal(t, probe.DefaultMaxPerHost, c.ProbeMaxPerHost)

	t.Setenv("VIGIL_PROBE_MAX_PER_HOST", "16")
	require.NoError(t, bindProbe(&c).Parse(nil))
	require.Equal(t, 16, c.ProbeMaxPerHost)
	t.Setenv("VIGIL_PROBE_MAX_PER_HOST", "many")
	require.ErrorContains(t, bindProbe(&c).Parse(nil), "VIGIL_PROBE_MAX_PER_HOST")
	t.Setenv("VIGIL_PROBE_MAX_PER_HOST", "16")

	t.Setenv("VIGIL_DENY_NETWORKS", "shared-cluster")
	t.Setenv("VIGIL_ALLOW_NETWORKS", "10.20.0.0/16")
	t.Setenv("VIGIL_PROBE_METHODS", "GET")
	require.NoError(t, bindProbe(&c).Parse([]string{"--probe-methods", "GET,HEAD"}))
	require.Equal(t, "shared-cluster", c.DenyNetworks)
	require.Equal(t, "10.20.0.0/16", c.AllowNetworks)
	require.Equal(t, "GET,HEAD", c.ProbeMethods, "a flag wins over the environment")
}

func TestMaxDeliveries(t *testing.T) {
	c := config.Defaults()
	require.Equal(t, queue.DefaultMaxDeliveries, c.MaxDeliveries)
	for _, ok := range []int{1, 100} {
		c.MaxDeliveries = ok
		require.NoError(t, c.Validate())
	}
	for _, bad := range []int{-1, 0, 101} {
		c.MaxDeliveries = bad
		require.ErrorContains(t, c.Validate(), "VIGIL_MAX_DELIVERIES", "%d", bad)
	}
}

// TestCallerSettings: the settings that bound what callers may do have
// safe defaults and are read from flags and the environment.
func TestCallerSettings(t *testing.T) {
	c := config.Defaults()
	require.Equal(t, "GET,HEAD,OPTIONS", c.ProbeMethods)
	require.Empty(t, c.AllowedHosts, "any host unless told")
	require.Equal(t, "127.0.0.1:6060", c.PprofAddr)
	c.Pprof = true
	require.NoError(t, c.Validate(), "the default profiler address is loopback")

	t.Setenv("VIGIL_PROBE_METHODS", "GET,POST")
	t.Setenv("VIGIL_ALLOWED_HOSTS", "vigil.example, Vigil.Example:8080")
	t.Setenv("VIGIL_WS_MAX_CLIENTS", "5")
	c = config.Defaults()
	s := config.NewSet("test", io.Discard)
	c.BindRuntime(s)
	c.BindRegistration(s)
	c.BindServer(s)
	require.NoError(t, s.Parse([]string{"--ws-max-clients-per-addr", "2", "--pprof-addr", "[::1]:7070"}))
	require.Equal(t, "GET,POST", c.ProbeMethods)
	require.Equal(t, 5, c.WSMaxClients)
	require.Equal(t, 2, c.WSMaxClientsPerAddr)
	require.Equal(t, "[::1]:7070", c.PprofAddr)
	hosts, err := config.ParseHosts(c.AllowedHosts)
	require.NoError(t, err)
	require.Equal(t, []string{"vigil.example", "vigil.example:8080"}, hosts)
	require.NoError(t, c.Validate())
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6060": true, "[::1]:6060": true, "localhost:6060": true, "127.9.9.9:1": true,
		":6060": false, "0.0.0.0:6060": false, "[::]:6060": false, "10.0.0.1:6060": false, "vigil:6060": false, "nonsense": false,
	} {
		require.Equal(t, want, config.IsLoopback(addr), addr)
	}
}

// The operator's /metrics default address is the one the shipped manifests
// pass, so a deployment that leaves the flag out serves where they say.
// It is HTTPS with authentication by default (OperatorMetricsSecure); the
// port stays the one the manifests have always used.
func TestOperatorMetricsDefaultMatchesManifests(t *testing.T) {
	def := config.Defaults().OperatorMetrics
	for _, manifest := range []string{"../../config/manager/manager.yaml", "../../charts/vigil/templates/operator.yaml"} {
		b, err := os.ReadFile(manifest)
		require.NoError(t, err)
		require.Contains(t, string(b), "--metrics-bind-address="+def+"\n", manifest)
	}
	require.True(t, config.Defaults().OperatorMetricsSecure, "secure by default")
}
