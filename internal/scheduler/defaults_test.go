package scheduler_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/scheduler"
)

// Zero and negative sizes mean the package's defaults, whoever builds the
// config: the scheduler itself and the publisher pool sized by it.
func TestConfigWithDefaults(t *testing.T) {
	for _, n := range []int{0, -1} {
		cfg := scheduler.Config{BatchSize: n, Parallel: n, MaxIdle: -1, MaxBackoff: -1, PublishTimeout: -1}.WithDefaults()
		require.Equal(t, scheduler.DefaultBatchSize, cfg.BatchSize)
		require.Equal(t, scheduler.DefaultParallel, cfg.Parallel)
		require.Equal(t, scheduler.DefaultCatchUp, cfg.CatchUp)
		require.Equal(t, scheduler.DefaultResolution, cfg.Resolution)
		require.Equal(t, scheduler.DefaultMaxIdle, cfg.MaxIdle)
		require.Equal(t, scheduler.DefaultMaxBackoff, cfg.MaxBackoff)
		require.Equal(t, scheduler.DefaultPublishTimeout, cfg.PublishTimeout)
		require.NotNil(t, cfg.Clock)
		require.NotNil(t, cfg.Logger)
	}
	cfg := scheduler.Config{BatchSize: 7, Parallel: 3, CatchUp: -1, Resolution: -1}.WithDefaults()
	require.Equal(t, 7, cfg.BatchSize)
	require.Equal(t, 3, cfg.Parallel)
	require.Negative(t, cfg.CatchUp, "negative catch-up skips every missed tick")
	require.Negative(t, cfg.Resolution, "negative resolution means none")
}
