package app

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/registry"
)

// labelRefresh is how often a server re-reads the registry for the labels
// its per-check series copy (VIGIL_METRIC_LABELS). A check's labels reach
// its series at once when the server first sees the check; a later
// relabelling reaches them within this period, and a deleted check's
// series go within it too.
const labelRefresh = time.Minute

// tagLookupTimeout bounds the one registry read a transition of a check
// the server has not seen yet costs, so a slow database delays the
// transitions feed by at most this.
const tagLookupTimeout = 2 * time.Second

// serviceReader is what the per-check series need of the registry.
type serviceReader interface {
	GetService(ctx context.Context, id string) (registry.Service, error)
	ListServices(ctx context.Context, f registry.ListFilter) ([]registry.Service, error)
}

// serverMetrics builds a server's metrics: in Kubernetes mode the
// per-check series carry the ServiceCheck's namespace and name, and with
// VIGIL_METRIC_LABELS the allow-listed labels.
func serverMetrics(cfg config.Config) (*metrics.Metrics, error) {
	keys, err := metrics.ParseLabelKeys(cfg.MetricLabels)
	if err != nil {
		return nil, fmt.Errorf("VIGIL_METRIC_LABELS: %w", err)
	}
	opts := []metrics.Option{metrics.WithBuild(cfg.Version, cfg.Revision), metrics.WithCheckLabels(keys)}
	if cfg.Kubernetes {
		opts = append(opts, metrics.WithKubernetesNames())
	}
	return metrics.New(opts...), nil
}

// operatorMetrics builds an operator's metrics. The operator serves no
// vigil_check_up, but its scheduler labels each job with what that series
// carries (metrics.Metrics.LabelJobs), so the workers' per-check facts
// carry it too: every check it schedules is a ServiceCheck, named
// "<namespace>/<name>", and VIGIL_METRIC_LABELS picks the labels copied.
func operatorMetrics(cfg config.Config) (*metrics.Metrics, error) {
	keys, err := metrics.ParseLabelKeys(cfg.MetricLabels)
	if err != nil {
		return nil, fmt.Errorf("VIGIL_METRIC_LABELS: %w", err)
	}
	return metrics.New(metrics.WithBuild(cfg.Version, cfg.Revision), metrics.WithKubernetesNames(),
		metrics.WithCheckLabels(keys)), nil
}

// watchCheckLabels tells m every check's tags at once and then every
// labelRefresh until ctx ends (refreshCheckLabels), for a process that
// sees no transitions to learn them from: the operator, whose scheduler
// copies them into jobs. Without an allow-list it does nothing.
func watchCheckLabels(ctx context.Context, st serviceReader, m *metrics.Metrics, log *zap.Logger) error {
	if !m.CheckLabels() {
		return nil
	}
	if err := syncCheckLabels(ctx, st, m); err != nil && ctx.Err() == nil {
		log.Warn("read metric labels", zap.Error(err))
	}
	return refreshCheckLabels(ctx, st, m, labelRefresh, log)
}

// observeTransition moves the check's series. The transition carries no
// tags, so the first transition of a check the server has not seen costs
// one registry read for its labels; later ones cost none.
func observeTransition(ctx context.Context, st serviceReader, m *metrics.Metrics, t check.Transition, log *zap.Logger) {
	if !m.KnowsCheckTags(t.CheckID) {
		lctx, cancel := context.WithTimeout(ctx, tagLookupTimeout)
		sv, err := st.GetService(lctx, t.CheckID)
		cancel()
		if err == nil {
			m.SetCheckTags(t.CheckID, sv.Tags)
		} else {
			// The series goes out without the copied labels; the next
			// refresh adds them.
			log.Debug("look up labels for metrics", zap.String("service", t.Service), zap.String("check_id", t.CheckID), zap.Error(err))
		}
	}
	m.Transition(t)
}

// refreshCheckLabels re-reads the registry every period until ctx ends:
// relabelled checks move their series, deleted ones lose theirs. It runs
// only when the series copy labels; without, nothing it reads would change
// them.
func refreshCheckLabels(ctx context.Context, st serviceReader, m *metrics.Metrics, period time.Duration, log *zap.Logger) error {
	if !m.CheckLabels() {
		return nil
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := syncCheckLabels(ctx, st, m); err != nil && ctx.Err() == nil {
			log.Warn("refresh metric labels", zap.Error(err))
		}
	}
}

// syncCheckLabels tells m every registered check's tags and forgets the
// checks that are gone.
func syncCheckLabels(ctx context.Context, st serviceReader, m *metrics.Metrics) error {
	mark := m.Epoch()
	svcs, err := st.ListServices(ctx, registry.ListFilter{})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	live := make(map[string]bool, len(svcs))
	for _, sv := range svcs {
		live[sv.ID] = true
		m.SetCheckTags(sv.ID, sv.Tags)
	}
	m.Prune(mark, func(id string) bool { return live[id] })
	return nil
}
