package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/api"
	"github.com/vigil-dev/vigil/internal/backoff"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/scheduler"
	"github.com/vigil-dev/vigil/internal/store"
	"github.com/vigil-dev/vigil/internal/worker"
)

// The PostgreSQL store backs every storage interface in production. The
// consumers declare those interfaces without importing the store, so the
// compiler checks here, where both sides are known, that it fits them all.
var (
	_ api.Registry         = (*store.Store)(nil)
	_ controllers.Registry = (*store.Store)(nil)
	_ scheduler.Claimer    = (*store.Store)(nil)
	_ worker.Recorder      = (*store.Store)(nil)
)

// openStore connects to PostgreSQL, waiting for it while ctx allows, and
// applies pending migrations when cfg says so. Waiting matters in compose
// and Kubernetes, where the database may come up after Vigil.
func openStore(ctx context.Context, cfg config.Config, log *zap.Logger) (*store.Store, error) {
	s, err := store.Open(ctx, cfg.DatabaseURL, int32(cfg.DBMaxConns), store.WithHistoryPolicy(historyPolicy(cfg)))
	if err != nil {
		return nil, err
	}
	if err := waitForDatabase(ctx, s, cfg.DBWait, log); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Migrate {
		n, err := s.Migrate(ctx)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
		v, _ := s.SchemaVersion(ctx)
		log.Info("database schema ready", zap.Int("applied", n), zap.Int("version", v))
	}
	return s, nil
}

// waitForDatabase pings s until it answers, for at most wait.
func waitForDatabase(ctx context.Context, s *store.Store, wait time.Duration, log *zap.Logger) error {
	deadline := time.Now().Add(wait)
	b := backoff.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for {
		err := s.Ping(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("database not reachable: %w", err)
		}
		log.Warn("waiting for the database", zap.Error(err), zap.Int("attempt", b.Attempts()+1))
		_ = backoff.Sleep(ctx, b.Next())
	}
}

func queueConfig(cfg config.Config, name string, log *zap.Logger) queue.Config {
	return queue.Config{URL: cfg.AMQPURL, ConnectionName: name, Logger: log.Named("queue"),
		ShutdownGrace: cfg.ShutdownTimeout, JobsPerMessage: cfg.JobsPerMessage, MaxDeliveries: cfg.MaxDeliveries}
}

// newScheduler builds a scheduler whose overlapping transactions each get a
// publisher of their own (a publisher confirms one batch at a time), as
// many as the scheduler will run. The pool is closed when ctx ends. m
// counts the published jobs and labels them for the workers' per-check
// series.
//
// The pool also answers the scheduler's admission control, which polls the
// jobs queue's depth over one of the pool's connections.
func newScheduler(ctx context.Context, cfg config.Config, st *store.Store, qcfg queue.Config, log *zap.Logger, m *metrics.Metrics) (*scheduler.Scheduler, *queue.PublisherPool, error) {
	scfg := scheduler.Config{BatchSize: cfg.BatchSize, Parallel: cfg.Parallel,
		CatchUp: cfg.CatchUp, MaxQueueLag: cfg.MaxQueueLag, OnOverload: m.TicksOverloaded, OnSkipped: m.TicksSkipped,
		Logger: log.Named("scheduler"), OnDispatch: m.Dispatched, LabelJobs: m.LabelJobs}.WithDefaults()
	pool, err := queue.NewPublisherPool(ctx, qcfg, scfg.Parallel)
	if err != nil {
		return nil, nil, err
	}
	scfg.Backlog = pool
	return scheduler.New(st, pool, scfg), pool, nil
}

// registrationPolicy is what registered checks may do, from the settings.
func registrationPolicy(cfg config.Config) (check.Policy, error) {
	methods, err := check.ParseMethods(cfg.ProbeMethods)
	if err != nil {
		return check.Policy{}, fmt.Errorf("VIGIL_PROBE_METHODS: %w", err)
	}
	return check.Policy{Methods: methods}, nil
}

// backends are the connections every long-running process holds: the
// store, a publisher for transitions and, in a process that runs a
// scheduler, the scheduler's job publishers.
type backends struct {
	store *store.Store
	pub   *queue.Publisher
	jobs  *queue.PublisherPool // nil without a scheduler
}

func (b *backends) Close() {
	if b.jobs != nil {
		_ = b.jobs.Close()
	}
	_ = b.pub.Close()
	b.store.Close()
}

// ready is the readiness check of a process: every backend it holds
// answers. All of its broker connections count, the scheduler's job
// publishers too: they go to the same broker, and a replica whose
// scheduler cannot publish is not doing what it runs for, which /readyz
// (and PublisherPool.Healthy, which joins every publisher's problem) must
// say rather than leave to the logs. The error names what is down for the
// readiness answer, and carries the cause for the log alone.
func (b *backends) ready(ctx context.Context) error {
	var (
		down []string
		errs []error
	)
	if err := b.store.Ping(ctx); err != nil {
		down, errs = append(down, "database"), append(errs, fmt.Errorf("database: %w", err))
	}
	if err := b.brokerHealthy(); err != nil {
		down, errs = append(down, "broker"), append(errs, fmt.Errorf("broker: %w", err))
	}
	if len(down) == 0 {
		return nil
	}
	return &api.UnreadyError{Down: down, Err: errors.Join(errs...)}
}

func (b *backends) brokerHealthy() error {
	err := b.pub.Healthy()
	if b.jobs != nil {
		err = errors.Join(err, b.jobs.Healthy())
	}
	return err
}

// openBackends opens the store (migrating when configured) and a publisher
// on the broker.
func openBackends(ctx context.Context, cfg config.Config, qcfg queue.Config, log *zap.Logger) (*backends, error) {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	pub, err := queue.NewPublisher(ctx, qcfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &backends{store: st, pub: pub}, nil
}

// servePprof serves the Go profiler on a listener of its own, which must
// be loopback-only. Profiles show the command line (the broker URL with its
// password), the heap and every goroutine's stack, so they are never on
// the API's listener, where the auth middleware treats unknown paths as
// the dashboard's and leaves them open. Reach them from the same host, or
// with `kubectl port-forward`, which connects to the pod's loopback. The
// listener has no read or write timeout: a CPU profile or trace streams
// for as many seconds as asked.
func servePprof(ctx context.Context, cfg config.Config, log *zap.Logger, ready chan<- net.Addr) error {
	if !config.IsLoopback(cfg.PprofAddr) {
		return fmt.Errorf("VIGIL_PPROF_ADDR must be a loopback address, got %q", cfg.PprofAddr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	limits := httpLimits{ReadHeader: defaultLimits.ReadHeader, Idle: defaultLimits.Idle, MaxHeaderBytes: defaultLimits.MaxHeaderBytes}
	return serveHTTP(ctx, cfg.PprofAddr, mux, limits, cfg.ShutdownTimeout, log.Named("pprof"), ready, nil)
}

// servePprofBestEffort serves profiles until ctx ends; a profiler that
// cannot listen (another process on the host has its port) is logged, not
// fatal: it is a debugging aid, not what the process is for.
func servePprofBestEffort(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	if err := servePprof(ctx, cfg, log, nil); err != nil {
		log.Warn("profiler not served", zap.String("addr", cfg.PprofAddr), zap.Error(err))
	}
	return nil
}

// httpLimits bound what one connection may hold of a server: a caller that
// sends its headers or body a byte at a time, or never reads the answer,
// or idles between requests, is cut off instead of holding a goroutine and
// a socket for as long as it likes.
type httpLimits struct {
	ReadHeader time.Duration
	// Read covers the headers and the whole body (at most 1 MiB).
	Read time.Duration
	// Write covers a response; WebSocket connections are not cut by it,
	// because the upgrade clears the deadlines the server set, and the
	// hub bounds every write with its own.
	Write          time.Duration
	Idle           time.Duration
	MaxHeaderBytes int
}

// defaultLimits are generous for any real client of the API, dashboard or
// metrics endpoint.
var defaultLimits = httpLimits{
	ReadHeader:     10 * time.Second,
	Read:           30 * time.Second,
	Write:          60 * time.Second,
	Idle:           120 * time.Second,
	MaxHeaderBytes: 64 << 10,
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully
// within grace. ready, when non-nil, receives the bound address; onShutdown,
// when non-nil, runs as shutdown begins (hijacked connections such as
// WebSockets are not closed by http.Server.Shutdown itself).
func serveHTTP(ctx context.Context, addr string, h http.Handler, limits httpLimits, grace time.Duration, log *zap.Logger, ready chan<- net.Addr, onShutdown func()) error {
	ln, err := net.Listen("tcp", addr) //nolint:noctx // ctx ends the server through Shutdown below, after a clean start
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if ready != nil {
		ready <- ln.Addr()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limits.ReadHeader,
		ReadTimeout:       limits.Read,
		WriteTimeout:      limits.Write,
		IdleTimeout:       limits.Idle,
		MaxHeaderBytes:    limits.MaxHeaderBytes,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	if onShutdown != nil {
		srv.RegisterOnShutdown(onShutdown)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", zap.String("addr", ln.Addr().String()))
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
