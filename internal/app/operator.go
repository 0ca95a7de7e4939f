package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vigil-dev/vigil/controllers"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/queue"
)

// OperatorHooks steer RunOperator in tests.
type OperatorHooks struct {
	// KubeConfig replaces the in-cluster or kubeconfig connection.
	KubeConfig *rest.Config
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
	st, pub := b.store, b.pub

	mgr, err := ctrl.NewManager(restCfg, managerOptions(cfg, scheme))
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	err = controllers.SetupOperator(mgr, controllers.OperatorOptions{
		Registry: st,
		Channels: st,
		Policy:   policy,
		Subscribe: func(ctx context.Context, h func(context.Context, check.Transition) error) error {
			// A durable queue: transitions wait there while the leader
			// changes, so no status update is lost.
			return queue.SubscribeTransitions(ctx, qcfg, cfg.StatusQueue, h)
		},
		Publish: func(ctx context.Context, t check.Transition) error {
			return pub.PublishTransitions(ctx, []check.Transition{t})
		},
	})
	if err != nil {
		return err
	}
	sched, pool, err := newScheduler(ctx, cfg, st, qcfg, log, nil)
	if err != nil {
		return err
	}
	b.jobs = pool
	if err := mgr.Add(nonLeader(sched.Run)); err != nil {
		return fmt.Errorf("add scheduler: %w", err)
	}
	if cfg.Notify {
		sender, err := newSender(cfg)
		if err != nil {
			return err
		}
		// Not leader-elected: replicas divide deliveries through leases.
		if err := mgr.Add(nonLeader(newDispatcher(cfg, st, sender, nil, log).Run)); err != nil {
			return fmt.Errorf("add notification dispatcher: %w", err)
		}
	}
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
		Metrics:                 metricsserver.Options{BindAddress: cfg.OperatorMetrics},
		HealthProbeBindAddress:  cfg.ProbeAddr,
		LeaderElection:          cfg.LeaderElect,
		LeaderElectionID:        cfg.LeaderElectionID,
		LeaderElectionNamespace: cfg.LeaderElectionNamespace,
		// Stop reconciling at once when the lease is lost rather than
		// racing the new leader.
		LeaderElectionReleaseOnCancel: true,
	}
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
