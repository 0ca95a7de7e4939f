package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/go-logr/zapr"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/store"
)

// OperatorHooks steer RunOperator in tests.
type OperatorHooks struct {
	// KubeConfig replaces the in-cluster or kubeconfig connection.
	KubeConfig *rest.Config
	// RepeatControllers lets a test process run the operator more than
	// once: controller-runtime refuses a controller name it has seen in
	// the process before.
	RepeatControllers bool
}

// RunOperator runs `vigil operator`: the controller-runtime manager with
// the ServiceCheck reconciler and the status writer (both on the elected
// leader) and a scheduler, which needs no lease because schedulers divide
// the due rows through row locks.
func RunOperator(ctx context.Context, cfg config.Config, log *zap.Logger, hooks OperatorHooks) error {
	ctrl.SetLogger(zapr.NewLogger(log))
	restCfg, err := hooks.kubeConfig()
	if err != nil {
		return err
	}
	policy, err := registrationPolicy(cfg)
	if err != nil {
		return err
	}
	scheme, err := controllers.NewScheme()
	if err != nil {
		return err
	}
	qcfg := queueConfig(cfg, "vigil-operator", log)
	b, err := openBackends(ctx, cfg, qcfg, log)
	if err != nil {
		return err
	}
	defer b.Close()
	st := b.store

	opts := managerOptions(cfg, scheme)
	if hooks.RepeatControllers {
		skip := true
		opts.Controller.SkipNameValidation = &skip
	}
	mgr, err := ctrl.NewManager(restCfg, opts)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := setupControllers(mgr, cfg, b, qcfg, policy, log); err != nil {
		return err
	}
	m, err := operatorMetrics(cfg)
	if err != nil {
		return err
	}
	unregister, err := registerCollectors(ctrlmetrics.Registry, m.Collectors())
	if err != nil {
		return err
	}
	defer unregister()
	if err := addScheduler(ctx, mgr, cfg, b, qcfg, m, log); err != nil {
		return err
	}
	unregisterNotify, err := addBackgroundLoops(mgr, cfg, st, m, log)
	if err != nil {
		return err
	}
	defer unregisterNotify()
	if err := addHealthChecks(mgr, b); err != nil {
		return err
	}
	log.Info("starting manager", zap.Bool("leader_election", cfg.LeaderElect))
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}

// kubeConfig is the hooks' client config, or the one controller-runtime
// finds (in-cluster, or $KUBECONFIG).
func (h OperatorHooks) kubeConfig() (*rest.Config, error) {
	if h.KubeConfig != nil {
		return h.KubeConfig, nil
	}
	c, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config: %w", err)
	}
	return c, nil
}

// managerOptions are the manager's settings.
func managerOptions(cfg config.Config, scheme *runtime.Scheme) ctrl.Options {
	return ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions(cfg),
		HealthProbeBindAddress:  cfg.ProbeAddr,
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionID:        cfg.LeaderElectionID,
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		// Stop reconciling at once when the lease is lost rather than
		// racing the new leader.
		LeaderElectionReleaseOnCancel: true,
	}
}

// metricsOptions serve the manager's /metrics. Secure serving is TLS with
// controller-runtime's filter, which asks the API server who the caller is
// (TokenReview) and whether it may GET the /metrics path
// (SubjectAccessReview), so a scrape needs a ServiceAccount token bound to
// a role with `nonResourceURLs: ["/metrics"], verbs: ["get"]`; answers are
// cached for a minute, so a scrape costs the API server little. The
// metrics name every check, which is what an unauthenticated endpoint
// gave away to any pod that could reach it.
func metricsOptions(cfg config.Config) metricsserver.Options {
	o := metricsserver.Options{BindAddress: cfg.OperatorMetrics}
	if !cfg.OperatorMetricsSecure {
		return o
	}
	o.SecureServing = true
	o.FilterProvider = filters.WithAuthenticationAndAuthorization
	if cfg.OperatorMetricsCertDir != "" {
		o.CertDir = cfg.OperatorMetricsCertDir
	}
	// HTTP/1.1 only: HTTP/2's stream reset flood (CVE-2023-44487) costs
	// a server more than a scrape ever needs HTTP/2 for.
	o.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	return o
}

// addScheduler runs a scheduler in every replica (no leader election:
// schedulers divide the due rows through row locks), with the refresh of
// the check labels it copies into jobs; the scheduler's publisher pool
// becomes b's jobs queue.
func addScheduler(ctx context.Context, mgr ctrl.Manager, cfg config.Config, b *backends, qcfg queue.Config, m *metrics.Metrics, log *zap.Logger) error {
	schedCfg := qcfg
	schedCfg.OnUnpublishable = m.JobUnpublishable
	sched, pool, err := newScheduler(ctx, cfg, b.store, schedCfg, log, m)
	if err != nil {
		return err
	}
	b.jobs = pool
	if err := mgr.Add(nonLeader(sched.Run)); err != nil {
		return fmt.Errorf("add scheduler: %w", err)
	}
	if err := mgr.Add(nonLeader(func(ctx context.Context) error { return watchCheckLabels(ctx, b.store, m, log) })); err != nil {
		return fmt.Errorf("add metric labels refresh: %w", err)
	}
	return nil
}

// registerCollectors adds Vigil's collectors cs to reg (controller-runtime's
// registry, which the manager's /metrics serves) and returns what takes
// them out again, so a process that runs the operator twice (a test)
// starts each time with its own.
func registerCollectors(reg interface {
	Register(c prometheus.Collector) error
	Unregister(c prometheus.Collector) bool
}, cs []prometheus.Collector) (func(), error) {
	var done []prometheus.Collector
	unregister := func() {
		for _, c := range done {
			reg.Unregister(c)
		}
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			unregister()
			return nil, fmt.Errorf("register metrics: %w", err)
		}
		done = append(done, c)
	}
	return unregister, nil
}

// addHealthChecks serves /healthz (the process runs) and /readyz (its
// backends answer) on the manager's probe address.
func addHealthChecks(mgr ctrl.Manager, b *backends) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("dependencies", func(r *http.Request) error { return b.ready(r.Context()) }); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	return nil
}

// nonLeader is a manager Runnable that runs on every replica, leader or not.
type nonLeader func(context.Context) error

func (f nonLeader) Start(ctx context.Context) error { return f(ctx) }
func (nonLeader) NeedLeaderElection() bool          { return false }

// setupControllers registers the operator's reconcilers with mgr, and
// discovery when it is on.
func setupControllers(mgr ctrl.Manager, cfg config.Config, b *backends, qcfg queue.Config, policy check.Policy, log *zap.Logger) error {
	err := controllers.SetupOperator(mgr, controllers.OperatorOptions{
		Registry:    b.store,
		StatusPages: b.store,
		Channels:    b.store,
		Policy:      policy,
		Subscribe: func(ctx context.Context, h func(context.Context, check.Transition) error) error {
			// A durable queue: transitions wait there while the leader
			// changes, so no status update is lost.
			return queue.SubscribeTransitions(ctx, qcfg, cfg.StatusQueue, h)
		},
		Publish: func(ctx context.Context, t check.Transition) error {
			return b.pub.PublishTransitions(ctx, []check.Transition{t})
		},
	})
	if err != nil {
		return err
	}
	if cfg.Discovery {
		kinds, err := controllers.SetupDiscovery(mgr)
		if err != nil {
			return err
		}
		log.Info("discovery on", zap.Strings("kinds", kinds))
	}
	return nil
}

// addBackgroundLoops adds what every replica runs, leader or not: history
// maintenance (one pass at a time through an advisory lock) and, when on,
// notification delivery (replicas divide it through leases), whose series
// it adds to the manager's /metrics. It returns what takes those out.
func addBackgroundLoops(mgr ctrl.Manager, cfg config.Config, st *store.Store, m *metrics.Metrics, log *zap.Logger) (func(), error) {
	none := func() {}
	if err := mgr.Add(nonLeader(maintenanceLoop(st, cfg, log).Run)); err != nil {
		return none, fmt.Errorf("add history maintenance: %w", err)
	}
	if !cfg.Notify {
		return none, nil
	}
	sender, err := newSender(cfg)
	if err != nil {
		return none, err
	}
	// The dispatcher first: it adds the queue-age gauge the
	// registration below copies into controller-runtime's registry.
	d := newDispatcher(cfg, st, sender, m, log)
	unregister, err := registerCollectors(ctrlmetrics.Registry, m.NotifyCollectors())
	if err != nil {
		return none, err
	}
	// Not leader-elected: replicas divide deliveries through leases.
	if err := mgr.Add(nonLeader(d.Run)); err != nil {
		unregister()
		return none, fmt.Errorf("add notification dispatcher: %w", err)
	}
	return unregister, nil
}
