// Package config reads Vigil's settings from flags and their environment
// equivalents. A flag given on the command line wins over the environment,
// which wins over the default, and a malformed value is an error naming both
// the flag and the variable rather than a silent default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/broadcast"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/probe"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/scheduler"
	"github.com/vigil-dev/vigil/internal/worker"
)

// Config holds every setting of every subcommand; each subcommand binds
// the ones it uses.
type Config struct {
	DatabaseURL     string
	DBMaxConns      int
	DBWait          time.Duration
	AMQPURL         string
	HTTPAddr        string
	LogLevel        string
	LogFormat       string
	Migrate         bool
	ShutdownTimeout time.Duration
	Pprof           bool
	// PprofAddr is where profiles are served when Pprof is on: a listener
	// of their own, loopback only (see Validate).
	PprofAddr string

	// ProbeMethods lists the HTTP methods a registered check may probe
	// with (comma-separated); see check.SafeMethods for why the default
	// is the safe ones only.
	ProbeMethods string

	// server
	Scheduler      bool
	Kubernetes     bool
	BatchSize      int
	Parallel       int
	CatchUp        time.Duration
	JobsPerMessage int
	// MaxQueueLag is the scheduler's admission bound (see
	// scheduler.Config.MaxQueueLag); negative turns admission control off.
	MaxQueueLag time.Duration

	// Notify runs a notification dispatcher in this process (server and
	// operator); NotifyConcurrency and NotifyTimeout bound its sends, and
	// NotifyDenyNetworks are the networks no channel may reach (as
	// DenyNetworks is for probes), in ParseNetworks' form.
	Notify             bool
	NotifyConcurrency  int
	NotifyTimeout      time.Duration
	NotifyDenyNetworks string

	// AllowedHosts lists the Host header values the server answers
	// (comma-separated; empty: any). It defeats DNS rebinding.
	AllowedHosts string
	// WSMaxClients caps the WebSocket clients of one server replica;
	// WSMaxClientsPerAddr caps those of one remote address.
	WSMaxClients        int
	WSMaxClientsPerAddr int

	// worker
	Concurrency int
	// Region is the region whose jobs this worker probes (VIGIL_REGION):
	// check.DefaultRegion takes the jobs queue every release has used,
	// any other region its own queue (queue.Config.JobQueueFor).
	Region string
	// DenyNetworks defaults to the link-local ranges (cloud metadata) so
	// that compose users can still probe their own loopback and private
	// services; shared clusters use the shared-cluster preset, the Helm
	// chart's default.
	DenyNetworks  string
	AllowNetworks string
	// ProbeMaxPerHost caps a worker's probes in flight per target
	// host:port, so checks that share a host share its connections rather
	// than dialling per probe (see probe.Options.MaxPerHost).
	ProbeMaxPerHost int
	MetricsAddr     string
	MaxDeliveries   int
	// MaxJobAge bounds how late a worker still probes a job (see
	// worker.Config.MaxJobAge); negative turns shedding off.
	MaxJobAge time.Duration
	// MaxQueueWait bounds how long a job may have waited since it was
	// published and still be probed (see worker.Config.MaxQueueWait);
	// negative turns that shedding off.
	MaxQueueWait time.Duration

	// MetricLabels lists the label keys (VIGIL_METRIC_LABELS, comma-
	// separated) whose values the per-check series copy from each check's
	// "key=value" tags: a ServiceCheck's labels (metrics.ParseLabelKeys).
	MetricLabels string

	// Version and Revision name the build (vigil_build_info); the binary
	// sets them, not a flag.
	Version  string
	Revision string

	// operator
	LeaderElect bool
	ProbeAddr   string
	// OperatorMetrics is where the manager serves /metrics, in plain
	// HTTP: the default port says so, and the chart and config/manager
	// pass the same address.
	OperatorMetrics string
	// OperatorMetricsSecure serves the operator's /metrics over TLS to
	// callers the API server authenticates (TokenReview) and authorizes
	// (SubjectAccessReview for GET on the /metrics path); off serves plain
	// HTTP to anyone who reaches the port.
	OperatorMetricsSecure bool
	// OperatorMetricsCertDir holds tls.crt and tls.key for the secure
	// metrics endpoint (a mounted cert-manager Secret, say); empty or
	// missing files: a self-signed certificate made in memory at start.
	OperatorMetricsCertDir string
	// Discovery turns on the controller that makes ServiceChecks for
	// Services, Ingresses and HTTPRoutes annotated
	// monitoring.vigil.dev/check: "true".
	Discovery   bool
	StatusQueue string
	// LeaderElectionNamespace holds the leader election lease; the
	// operator watches ServiceChecks in every namespace regardless.
	LeaderElectionNamespace string
	LeaderElectionID        string

	// history (server and operator): see history.go
	ResultsRetention time.Duration
	RollupRetention  time.Duration
}

// Defaults match docker-compose.yml and the local services the README
// describes. A setting whose package has a default of its own takes that
// constant, so that the flag's default and the package's are one value.
func Defaults() Config {
	return Config{
		DatabaseURL:         "postgres://vigil:vigil@localhost:5432/vigil?sslmode=disable",
		DBMaxConns:          10,
		DBWait:              30 * time.Second,
		AMQPURL:             "amqp://guest:guest@localhost:5672/",
		HTTPAddr:            ":8080",
		LogLevel:            "info",
		LogFormat:           "json",
		Migrate:             true,
		ShutdownTimeout:     30 * time.Second,
		PprofAddr:           "127.0.0.1:6060",
		ProbeMethods:        check.SafeMethods,
		WSMaxClients:        broadcast.DefaultMaxClients,
		WSMaxClientsPerAddr: broadcast.DefaultMaxClientsPerAddr,
		Scheduler:           true,
		Notify:              true,
		NotifyConcurrency:   64,
		NotifyTimeout:       10 * time.Second,
		NotifyDenyNetworks:  "169.254.0.0/16,fe80::/10",
		BatchSize:           scheduler.DefaultBatchSize,
		Parallel:            scheduler.DefaultParallel,
		CatchUp:             scheduler.DefaultCatchUp,
		MaxQueueLag:         scheduler.DefaultMaxQueueLag,
		JobsPerMessage:      queue.DefaultJobsPerMessage,
		Concurrency:         1024,
		Region:              check.DefaultRegion,
		MaxDeliveries:       queue.DefaultMaxDeliveries,
		MaxJobAge:           worker.DefaultMaxJobAge,
		MaxQueueWait:        worker.DefaultMaxQueueWait,
		ProbeMaxPerHost:     probe.DefaultMaxPerHost,
		DenyNetworks:        "169.254.0.0/16,fe80::/10",
		MetricsAddr:         ":9090",
		LeaderElect:         true,
		ProbeAddr:           ":8081",
		OperatorMetrics:     ":8080",
		// Secure by default: the metrics name every check and its state.
		OperatorMetricsSecure: true,
		Discovery:             true,
		StatusQueue:           "vigil.operator.status",
		LeaderElectionID:      "vigil-operator.monitoring.vigil.dev",
		ResultsRetention:      DefaultResultsRetention,
		RollupRetention:       DefaultRollupRetention,
	}
}

// Set is a flag set that knows each flag's environment variable.
type Set struct {
	fs   *flag.FlagSet
	env  map[string]string // flag name -> variable
	errs []string
}

// NewSet returns an empty Set for one subcommand.
func NewSet(name string, out io.Writer) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &Set{fs: fs, env: map[string]string{}}
}

func (s *Set) lookup(name, env string) (string, bool) {
	s.env[name] = env
	return os.LookupEnv(env)
}

func (s *Set) bad(name, env, v string, err error) {
	s.errs = append(s.errs, fmt.Sprintf("invalid value %q for %s (--%s): %v", v, env, name, err))
}

// String binds a string flag.
func (s *Set) String(p *string, name, env, usage string) {
	if v, ok := s.lookup(name, env); ok {
		*p = v
	}
	s.fs.StringVar(p, name, *p, usage+" ($"+env+")")
}

// Int binds an int flag.
func (s *Set) Int(p *int, name, env, usage string) {
	if v, ok := s.lookup(name, env); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			s.bad(name, env, v, err)
		} else {
			*p = n
		}
	}
	s.fs.IntVar(p, name, *p, usage+" ($"+env+")")
}

// Bool binds a bool flag.
func (s *Set) Bool(p *bool, name, env, usage string) {
	if v, ok := s.lookup(name, env); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			s.bad(name, env, v, err)
		} else {
			*p = b
		}
	}
	s.fs.BoolVar(p, name, *p, usage+" ($"+env+")")
}

// Duration binds a duration flag.
func (s *Set) Duration(p *time.Duration, name, env, usage string) {
	if v, ok := s.lookup(name, env); ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			s.bad(name, env, v, err)
		} else {
			*p = d
		}
	}
	s.fs.DurationVar(p, name, *p, usage+" ($"+env+")")
}

// Parse parses args and reports every bad environment value at once.
func (s *Set) Parse(args []string) error {
	if len(s.errs) > 0 {
		return fmt.Errorf("%s", strings.Join(s.errs, "; "))
	}
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(s.fs.Args(), " "))
	}
	return nil
}

// BindCommon binds the settings every subcommand shares.
func (c *Config) BindCommon(s *Set) {
	s.String(&c.DatabaseURL, "database-url", "VIGIL_DATABASE_URL", "PostgreSQL connection URL")
	s.Int(&c.DBMaxConns, "db-max-conns", "VIGIL_DB_MAX_CONNS", "maximum database connections")
	s.Duration(&c.DBWait, "db-wait", "VIGIL_DB_WAIT", "how long to wait for the database at start")
	s.String(&c.LogLevel, "log-level", "VIGIL_LOG_LEVEL", "log level: debug, info, warn, error")
	s.String(&c.LogFormat, "log-format", "VIGIL_LOG_FORMAT", "log format: json or console")
}

// BindRuntime binds the settings of the long-running processes.
func (c *Config) BindRuntime(s *Set) {
	c.BindCommon(s)
	s.String(&c.AMQPURL, "amqp-url", "VIGIL_AMQP_URL", "RabbitMQ connection URL")
	s.Bool(&c.Migrate, "migrate", "VIGIL_MIGRATE", "apply pending database migrations on start")
	s.Duration(&c.ShutdownTimeout, "shutdown-timeout", "VIGIL_SHUTDOWN_TIMEOUT", "how long to drain on SIGTERM")
	s.Bool(&c.Pprof, "pprof", "VIGIL_PPROF", "serve Go profiles under /debug/pprof/ on --pprof-addr (off by default: they expose internals)")
	s.String(&c.PprofAddr, "pprof-addr", "VIGIL_PPROF_ADDR", "loopback address of the profiler's own listener")
}

// BindRegistration binds the settings of the processes that accept checks
// into the registry: the server (REST) and the operator (ServiceChecks).
func (c *Config) BindRegistration(s *Set) {
	s.String(&c.ProbeMethods, "probe-methods", "VIGIL_PROBE_METHODS", "HTTP methods a registered check may probe with, comma-separated")
}

// BindServer binds the settings of the REST and WebSocket server's callers.
func (c *Config) BindServer(s *Set) {
	s.String(&c.AllowedHosts, "allowed-hosts", "VIGIL_ALLOWED_HOSTS", "Host header values the server answers, comma-separated (empty: any)")
	s.Int(&c.WSMaxClients, "ws-max-clients", "VIGIL_WS_MAX_CLIENTS", "WebSocket clients this replica serves at once")
	s.Int(&c.WSMaxClientsPerAddr, "ws-max-clients-per-addr", "VIGIL_WS_MAX_CLIENTS_PER_ADDR", "WebSocket clients one remote address may hold at once")
}

// BindScheduler binds the settings of the scheduler that server and
// operator both run.
func (c *Config) BindScheduler(s *Set) {
	s.Int(&c.BatchSize, "scheduler-batch", "VIGIL_SCHEDULER_BATCH", "jobs claimed and published per transaction")
	s.Int(&c.Parallel, "scheduler-parallel", "VIGIL_SCHEDULER_PARALLEL", "claim-publish transactions run at once")
	s.Duration(&c.CatchUp, "scheduler-catch-up", "VIGIL_SCHEDULER_CATCH_UP", "how late a tick missed in an outage the scheduler saw is still probed (negative: skip every missed tick)")
	s.Duration(&c.MaxQueueLag, "max-queue-lag", "VIGIL_MAX_QUEUE_LAG",
		"work the jobs queue may hold, in the time workers take to drain it, before fresh ticks are skipped instead of published (negative: publish every tick)")
	s.Int(&c.JobsPerMessage, "jobs-per-message", "VIGIL_JOBS_PER_MESSAGE", "most jobs per broker message (1: one job per message, as workers before multi-job messages need)")
}

// BindNotify binds the settings of the notification dispatcher that
// server and operator both run.
func (c *Config) BindNotify(s *Set) {
	s.Bool(&c.Notify, "notify", "VIGIL_NOTIFY", "deliver notifications from this process")
	s.Int(&c.NotifyConcurrency, "notify-concurrency", "VIGIL_NOTIFY_CONCURRENCY", "notifications sent at once by this process")
	s.Duration(&c.NotifyTimeout, "notify-timeout", "VIGIL_NOTIFY_TIMEOUT", "how long one notification attempt may take")
	s.String(&c.NotifyDenyNetworks, "notify-deny-networks", "VIGIL_NOTIFY_DENY_NETWORKS",
		"networks no notification channel may reach (CIDRs or shared-cluster; default: link-local, the cloud metadata endpoints)")
}

// BindRegion binds the region a worker probes from.
func (c *Config) BindRegion(s *Set) {
	s.String(&c.Region, "region", "VIGIL_REGION",
		"the region whose jobs this worker probes (checks list regions; default: the jobs queue of checks without regions)")
}

// BindProbe binds the settings that say what a worker's probes may reach
// and send.
func (c *Config) BindProbe(s *Set) {
	s.String(&c.DenyNetworks, "deny-networks", "VIGIL_DENY_NETWORKS",
		"comma-separated CIDRs, addresses and presets (shared-cluster) probes may not connect to (empty: none)")
	s.String(&c.AllowNetworks, "allow-networks", "VIGIL_ALLOW_NETWORKS",
		"comma-separated CIDRs exempt from the deny networks: what probes may reach inside them")
	s.String(&c.ProbeMethods, "probe-methods", "VIGIL_PROBE_METHODS", "comma-separated HTTP methods probes may use")
	s.Int(&c.ProbeMaxPerHost, "probe-max-per-host", "VIGIL_PROBE_MAX_PER_HOST",
		"probes of one target host:port in flight at once; the connections kept open to a host")
}

// maxMaxDeliveries bounds VIGIL_MAX_DELIVERIES: the retry delay doubles
// per delivery up to 30s, so a hundred deliveries already keep a failing
// job around for most of an hour.
const maxMaxDeliveries = 100

// Validate rejects settings no process can run with.
func (c *Config) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("VIGIL_DATABASE_URL must not be empty")
	case c.Concurrency < 1:
		return fmt.Errorf("VIGIL_WORKER_CONCURRENCY must be at least 1, got %d", c.Concurrency)
	case c.DBMaxConns < 1:
		return fmt.Errorf("VIGIL_DB_MAX_CONNS must be at least 1, got %d", c.DBMaxConns)
	case c.BatchSize < 1:
		return fmt.Errorf("VIGIL_SCHEDULER_BATCH must be at least 1, got %d", c.BatchSize)
	case c.Parallel < 1:
		return fmt.Errorf("VIGIL_SCHEDULER_PARALLEL must be at least 1, got %d", c.Parallel)
	case c.JobsPerMessage < 1 || c.JobsPerMessage > queue.MaxJobsPerMessage:
		return fmt.Errorf("VIGIL_JOBS_PER_MESSAGE must be between 1 and %d, got %d", queue.MaxJobsPerMessage, c.JobsPerMessage)
	case c.MaxDeliveries < 1 || c.MaxDeliveries > maxMaxDeliveries:
		return fmt.Errorf("VIGIL_MAX_DELIVERIES must be between 1 and %d, got %d", maxMaxDeliveries, c.MaxDeliveries)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("VIGIL_SHUTDOWN_TIMEOUT must be positive, got %s", c.ShutdownTimeout)
	case c.WSMaxClients < 1:
		return fmt.Errorf("VIGIL_WS_MAX_CLIENTS must be at least 1, got %d", c.WSMaxClients)
	case c.WSMaxClientsPerAddr < 1:
		return fmt.Errorf("VIGIL_WS_MAX_CLIENTS_PER_ADDR must be at least 1, got %d", c.WSMaxClientsPerAddr)
	case c.ProbeMaxPerHost < 1:
		return fmt.Errorf("VIGIL_PROBE_MAX_PER_HOST must be at least 1, got %d", c.ProbeMaxPerHost)
	case c.MaxQueueLag >= 0 && c.MaxQueueLag < scheduler.MinMaxQueueLag:
		return fmt.Errorf("VIGIL_MAX_QUEUE_LAG must be at least %s (or negative to turn admission control off), got %s", scheduler.MinMaxQueueLag, c.MaxQueueLag)
	case c.MaxJobAge >= 0 && c.MaxJobAge < worker.MinMaxJobAge:
		// The floor absorbs clock skew between scheduler and worker hosts.
		return fmt.Errorf("VIGIL_MAX_JOB_AGE must be at least %s (or negative to turn shedding off), got %s", worker.MinMaxJobAge, c.MaxJobAge)
	case c.MaxQueueWait >= 0 && c.MaxQueueWait < worker.MinMaxQueueWait:
		// Likewise: the wait is the worker's clock minus the publisher's.
		return fmt.Errorf("VIGIL_MAX_QUEUE_WAIT must be at least %s (or negative to turn this shedding off), got %s", worker.MinMaxQueueWait, c.MaxQueueWait)
	}
	if !check.IsRegionName(c.Region) {
		return fmt.Errorf("VIGIL_REGION must be a lowercase DNS label (a-z, 0-9 and '-', at most %d characters), got %q", check.MaxRegionLength, c.Region)
	}
	if err := c.validateHistory(); err != nil {
		return err
	}
	if _, err := check.ParseMethods(c.ProbeMethods); err != nil {
		return fmt.Errorf("VIGIL_PROBE_METHODS: %w", err)
	}
	if _, err := ParseHosts(c.AllowedHosts); err != nil {
		return fmt.Errorf("VIGIL_ALLOWED_HOSTS: %w", err)
	}
	if c.Pprof && !IsLoopback(c.PprofAddr) {
		// Profiles show the command line (with the broker's password) and
		// the heap; they are never served where the network can reach them.
		return fmt.Errorf("VIGIL_PPROF_ADDR must be a loopback address such as 127.0.0.1:6060, got %q", c.PprofAddr)
	}
	return nil
}

// ParseHosts reads a comma-separated list of host names or host:port
// values, lower-cased for comparison with a request's Host. Empty is no
// list (any host).
func ParseHosts(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		h := strings.ToLower(strings.TrimSpace(part))
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/?#@ ") || strings.ContainsFunc(h, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("%q is not a host name or host:port", h)
		}
		out = append(out, h)
	}
	return out, nil
}

// IsLoopback reports whether addr (host:port) can only be reached from
// this machine: a loopback IP or "localhost". An empty host (":8080")
// means every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
