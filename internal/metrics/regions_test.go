package metrics_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/registry"
)

func TestRegionChecks(t *testing.T) {
	m := metrics.New()
	require.NotContains(t, scrape(t, m), "vigil_region_checks", "absent until counted")

	gauge := func(region string, st check.State) *float64 {
		s := series(scrape(t, m), "vigil_region_checks", map[string]string{"region": region, "state": string(st)})
		if s == nil {
			return nil
		}
		v := s.GetGauge().GetValue()
		return &v
	}
	m.SetRegionChecks([]registry.RegionCount{
		{Region: "eu", State: check.StateUp, Checks: 4},
		{Region: "eu", State: check.StateUnknown, Checks: 1},
		{Region: "us", State: check.StateDown, Checks: 2},
	})
	require.Equal(t, 4.0, *gauge("eu", check.StateUp))
	require.Equal(t, 1.0, *gauge("eu", check.StateUnknown))
	require.Equal(t, 0.0, *gauge("eu", check.StateDown), "every state of a region is there, at zero when no check is in it")
	require.Equal(t, 2.0, *gauge("us", check.StateDown))
	require.Equal(t, 0.0, *gauge("us", check.StateUp))

	// The next count replaces the last whole: a region no check lists any
	// more loses its series.
	m.SetRegionChecks([]registry.RegionCount{{Region: "eu", State: check.StateDown, Checks: 5}})
	require.Equal(t, 5.0, *gauge("eu", check.StateDown))
	require.Equal(t, 0.0, *gauge("eu", check.StateUp))
	require.Nil(t, gauge("us", check.StateDown))

	var none *metrics.Metrics
	none.SetRegionChecks(nil) // a process without metrics
}
