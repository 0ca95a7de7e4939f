package app

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-dev/vigil/internal/api"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/probe"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/worker"
)

// RunWorker runs `vigil worker`: it consumes probe jobs until ctx is
// cancelled, then finishes the probes in flight, settles their jobs and
// exits.
func RunWorker(ctx context.Context, cfg config.Config, log *zap.Logger, hooks Hooks) error {
	popts, err := probeOptions(cfg)
	if err != nil {
		return err
	}
	workerGC()
	m, err := workerMetrics(cfg)
	if err != nil {
		return err
	}
	qcfg := queueConfig(cfg, "vigil-worker", log)
	qcfg.OnDeadLetter = m.JobDeadLettered
	qcfg.Region = cfg.Region
	// A job held as long as the stale bound is shed when it starts, so
	// the consumer starts such jobs ahead of fresher ones (see
	// queue.Config.MaxHold); otherwise they would wait for a lull.
	if cfg.MaxJobAge > 0 {
		qcfg.MaxHold = max(cfg.MaxJobAge, worker.MinMaxJobAge)
	}
	b, err := openBackends(ctx, cfg, qcfg, log)
	if err != nil {
		return err
	}
	defer b.Close()
	st, pub := b.store, b.pub

	prober := probe.New(popts)
	defer prober.Close()
	w := worker.New(prober, st, pub, worker.Config{Logger: log.Named("worker"), OnResult: m.ProbeFinished,
		MaxJobAge: cfg.MaxJobAge, MaxQueueWait: cfg.MaxQueueWait,
		OnStale: func(_ check.Job, reason string, _ time.Duration) { m.JobShed(reason) }})
	defer w.Close()
	m.WorkerOverloaded(w.Overloaded)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// The consumer gets the parent ctx: on shutdown it stops taking jobs
		// and drains the ones in flight itself.
		return queue.ConsumeJobs(ctx, qcfg, cfg.Concurrency, jobHandler(w, m))
	})
	health := healthHandler(b.ready, m.Handler(), log.Named("health"))
	g.Go(func() error {
		return serveHTTP(gctx, cfg.MetricsAddr, health, defaultLimits, cfg.ShutdownTimeout, log, hooks.Listening, nil)
	})
	if cfg.Pprof {
		g.Go(func() error { return servePprofBestEffort(gctx, cfg, log) })
	}
	return g.Wait()
}

// workerMetrics builds a worker's metrics. Its per-check facts take their
// label values from the jobs (check.Job.MetricLabels) but their label
// names from VIGIL_METRIC_LABELS, fixed for the process, so a worker given
// the allow-list the servers and operators have exports vigil_check_up's
// label set; without it the copied labels are left out.
func workerMetrics(cfg config.Config) (*metrics.Metrics, error) {
	keys, err := metrics.ParseLabelKeys(cfg.MetricLabels)
	if err != nil {
		return nil, fmt.Errorf("VIGIL_METRIC_LABELS: %w", err)
	}
	return metrics.New(metrics.WithBuild(cfg.Version, cfg.Revision), metrics.WithCheckLabels(keys)), nil
}

// jobHandler runs each job on w and tells the consumer what to do with
// its message.
func jobHandler(w *worker.Worker, m *metrics.Metrics) queue.JobHandler {
	return func(ctx context.Context, job check.Job, d queue.Delivery) queue.Outcome {
		m.JobConsumed(d.Redelivered)
		var err error
		if d.Attempt > 1 {
			// A retry is late on purpose; see worker.Worker.HandleRetry.
			// A job the broker redelivered because a worker died is on its
			// first attempt and shed like any other when it is late: it
			// is the dead worker's prefetched backlog.
			err = w.HandleRetry(ctx, job)
		} else {
			err = w.HandlePublished(ctx, job, d.PublishedAt)
		}
		if err != nil {
			return queue.Requeue
		}
		return queue.Ack
	}
}

// probeOptions reads what the worker's probes may reach and send. A bad
// value stops the worker at start, naming its variable: a policy that
// silently fell back to a default could open what the operator closed.
func probeOptions(cfg config.Config) (probe.Options, error) {
	deny, err := probe.ParseNetworks(cfg.DenyNetworks)
	if err != nil {
		return probe.Options{}, fmt.Errorf("VIGIL_DENY_NETWORKS: %w", err)
	}
	allow, err := probe.ParseNetworks(cfg.AllowNetworks)
	if err != nil {
		return probe.Options{}, fmt.Errorf("VIGIL_ALLOW_NETWORKS: %w", err)
	}
	methods, err := check.ParseMethods(cfg.ProbeMethods)
	if err != nil {
		return probe.Options{}, fmt.Errorf("VIGIL_PROBE_METHODS: %w", err)
	}
	return probe.Options{DenyNetworks: deny, AllowNetworks: allow, Methods: methods, MaxPerHost: cfg.ProbeMaxPerHost}, nil
}

// workerGCPercent is the worker's GOGC unless the environment sets one. A
// busy worker keeps a small live heap but a thousand parked handler
// goroutines with deep stacks (net/http, pgx), and every collection scans
// them all: at the default of 100, collection was a sixth of a worker's CPU
// at 2,500 probes/s. Collecting a quarter as often costs some tens of MiB.
const workerGCPercent = 400

func workerGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(workerGCPercent)
	}
}

// healthHandler serves /metrics and the API's /healthz and /readyz for
// processes without the REST API.
func healthHandler(ready func(context.Context) error, metricsHandler http.Handler, log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler)
	api.HealthRoutes(mux, ready, log)
	return mux
}
