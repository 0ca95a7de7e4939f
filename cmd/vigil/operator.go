package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/config"
)

// bindOperator binds `vigil operator`, the Kubernetes mode's manager.
func bindOperator(cfg *config.Config, set *config.Set) startFunc {
	cfg.BindRuntime(set)
	set.Bool(&cfg.LeaderElect, "leader-elect", "VIGIL_LEADER_ELECT", "elect one replica to reconcile and write status")
	set.String(&cfg.LeaderElectionID, "leader-election-id", "VIGIL_LEADER_ELECTION_ID", "name of the leader election lease")
	set.String(&cfg.LeaderElectionNamespace, "leader-election-namespace", "POD_NAMESPACE", "namespace of the lease (in-cluster: the pod's)")
	set.String(&cfg.OperatorMetrics, "metrics-bind-address", "VIGIL_OPERATOR_METRICS_ADDR", "address of the manager's /metrics (0 disables)")
	set.Bool(&cfg.OperatorMetricsSecure, "metrics-secure", "VIGIL_OPERATOR_METRICS_SECURE",
		"serve /metrics over HTTPS to callers with a Kubernetes token allowed to GET /metrics (false: plain HTTP, open to anyone who reaches the port)")
	set.String(&cfg.OperatorMetricsCertDir, "metrics-cert-dir", "VIGIL_OPERATOR_METRICS_CERT_DIR",
		"directory with tls.crt and tls.key for --metrics-secure (empty: a self-signed certificate made at start)")
	set.Bool(&cfg.Discovery, "discovery", "VIGIL_DISCOVERY",
		"make ServiceChecks for Services, Ingresses and HTTPRoutes annotated monitoring.vigil.dev/check: \"true\"")
	set.String(&cfg.ProbeAddr, "health-probe-bind-address", "VIGIL_HEALTH_PROBE_ADDR", "address of /healthz and /readyz")
	set.String(&cfg.StatusQueue, "status-queue", "VIGIL_STATUS_QUEUE", "durable queue the status writer consumes transitions from")
	cfg.BindScheduler(set)
	cfg.BindNotify(set)
	cfg.BindRegistration(set)
	cfg.BindHistory(set)
	return func(ctx context.Context, c config.Config, l *zap.Logger) error {
		return app.RunOperator(ctx, c, l, app.OperatorHooks{})
	}
}
