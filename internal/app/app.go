// Package app assembles Vigil's processes from its packages: it is the
// only place that knows which concrete store, broker adapter and prober
// back each interface, so cmd/vigil stays a thin flag parser and the
// assembly can be tested end to end.
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

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/scheduler"
	"github.com/vigil-dev/vigil/internal/store"
)

// openStore connects to PostgreSQL, waiting for it while ctx allows, and
// applies pending migrations when cfg says so. Waiting matters in compose
// and Kubernetes, where the database may come up after Vigil.
func openStore(ctx context.Context, cfg config.Config, log *zap.Logger) (*store.Store, error) {
	s, err := store.Open(ctx, cfg.DatabaseURL, int32(cfg.DBMaxConns))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(cfg.DBWait)
	for attempt := 1; ; attempt++ {
		err = s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Close()
			return nil, fmt.Errorf("database not reachable: %w", err)
		}
		log.Warn("waiting for the database", zap.Error(err), zap.Int("attempt", attempt))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
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

func queueConfig(cfg config.Config, name string, log *zap.Logger) queue.Config {
	return queue.Config{URL: cfg.AMQPURL, ConnectionName: name, Logger: log.Named("queue"),
		ShutdownGrace: cfg.ShutdownTimeout, JobsPerMessage: cfg.JobsPerMessage}
}

// newScheduler builds a scheduler whose overlapping transactions each get a
// publisher of their own (a publisher confirms one batch at a time). The
// pool is closed when ctx ends.
func newScheduler(ctx context.Context, cfg config.Config, st *store.Store, qcfg queue.Config, log *zap.Logger, onDispatch func([]check.Job, time.Time)) (*scheduler.Scheduler, func(), error) {
	pool, err := queue.NewPublisherPool(ctx, qcfg, max(cfg.Parallel, 1))
	if err != nil {
		return nil, nil, err
	}
	sched := scheduler.New(st, pool, scheduler.Config{BatchSize: cfg.BatchSize, Parallel: cfg.Parallel,
		CatchUp: cfg.CatchUp, Logger: log.Named("scheduler"), OnDispatch: onDispatch})
	return sched, func() { _ = pool.Close() }, nil
}

// registrationPolicy is what registered checks may do, from the settings.
func registrationPolicy(cfg config.Config) (check.Policy, error) {
	methods, err := check.ParseMethods(cfg.ProbeMethods)
	if err != nil {
		return check.Policy{}, fmt.Errorf("VIGIL_PROBE_METHODS: %w", err)
	}
	return check.Policy{Methods: methods}, nil
}

// backends are the two connections every long-running process holds.
type backends struct {
	store *store.Store
	pub   *queue.Publisher
}

func (b *backends) Close() {
	_ = b.pub.Close()
	b.store.Close()
}

// ready is the readiness check of a process: both backends answer.
func (b *backends) ready(ctx context.Context) error {
	return errors.Join(b.store.Ping(ctx), b.pub.Healthy())
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

// withPprof mounts the Go profiler under /debug/pprof/ in front of h when
// enabled. It is off by default: profiles reveal internals and cost CPU.
func withPprof(enabled bool, h http.Handler) http.Handler {
	if !enabled {
		return h
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}

// serveHTTP serves h on addr until ctx ends, then shuts down gracefully
// within grace. ready, when non-nil, receives the bound address; onShutdown,
// when non-nil, runs as shutdown begins (hijacked connections such as
// WebSockets are not closed by http.Server.Shutdown itself).
func serveHTTP(ctx context.Context, addr string, h http.Handler, grace time.Duration, log *zap.Logger, ready chan<- net.Addr, onShutdown func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if ready != nil {
		ready <- ln.Addr()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
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
