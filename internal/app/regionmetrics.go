package app

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/registry"
)

// regionRefresh is how often a server counts its checks' regions for
// vigil_region_checks. The count is one grouped query over every check
// with regions, so it runs on this clock rather than at every scrape:
// its cost is then fixed however many Prometheus replicas scrape how
// often, and a slow database delays the gauge, never the scrape of every
// other series. A region's state goes stale only after three of its
// check's intervals, so thirty seconds' lag tells nothing late that
// matters to an alert on it.
const regionRefresh = 30 * time.Second

// regionCounter is what vigil_region_checks needs of the registry.
type regionCounter interface {
	CountRegionStates(ctx context.Context) ([]registry.RegionCount, error)
}

// countRegionChecks sets vigil_region_checks at once and then every
// period until ctx ends. A failed count leaves the last one served.
func countRegionChecks(ctx context.Context, st regionCounter, m *metrics.Metrics, period time.Duration, log *zap.Logger) error {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		counts, err := st.CountRegionStates(ctx)
		switch {
		case err == nil:
			m.SetRegionChecks(counts)
		case ctx.Err() == nil:
			log.Warn("count region states", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
