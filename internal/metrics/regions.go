package metrics

import (
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// regionStates are the states every region reports, at zero when no check
// counts the region in them, so that a region's series do not come and go
// with its checks' states.
var regionStates = []check.State{check.StateUp, check.StateDown, check.StateUnknown}

// regionChecks is vigil_region_checks: the last counts it was told,
// served whole at every scrape. Its labels are region and state only, so
// its series number the regions in use times the states, however many
// checks there are.
type regionChecks struct {
	desc   *prometheus.Desc
	counts atomic.Pointer[[]registry.RegionCount]
}

func (r *regionChecks) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *regionChecks) Collect(ch chan<- prometheus.Metric) {
	counts := r.counts.Load()
	if counts == nil {
		return
	}
	byRegion := map[string]map[check.State]int64{}
	for _, c := range *counts {
		if byRegion[c.Region] == nil {
			byRegion[c.Region] = map[check.State]int64{}
			for _, st := range regionStates {
				byRegion[c.Region][st] = 0
			}
		}
		byRegion[c.Region][c.State] += c.Checks
	}
	for region, states := range byRegion {
		for st, n := range states {
			ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, float64(n), region, string(st))
		}
	}
}

// SetRegionChecks replaces vigil_region_checks with counts (one grouped
// count of the checks with regions, store.CountRegionStates). Only the
// process that counts calls it, so the series is absent elsewhere; until
// the first call it has no series.
func (m *Metrics) SetRegionChecks(counts []registry.RegionCount) {
	if m == nil {
		return
	}
	m.regionOnce.Do(func() {
		m.regions = &regionChecks{desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "region_checks"),
			"Checks with regions (active, not paused), by region and the state the vote counts the region in: "+
				"UNKNOWN when it has sent no result or its newest result trails the check's newest by more than "+
				strconv.Itoa(check.StaleTicks)+" intervals. Refreshed every 30 seconds.",
			[]string{"region", "state"}, nil)}
		m.reg.MustRegister(m.regions)
	})
	counts = slices.Clone(counts)
	m.regions.counts.Store(&counts)
}
