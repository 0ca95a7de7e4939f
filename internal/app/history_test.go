package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/pgtest"
	"github.com/vigil-dev/vigil/internal/store"
)

// The loop the server and operator run passes the configured retention to
// the store: with a 2-day results retention, a pass creates the partitions
// of two days back and three ahead, and nothing older.
func TestMaintenanceLoopUsesTheRetention(t *testing.T) {
	ctx := context.Background()
	cfg := config.Defaults()
	cfg.ResultsRetention = 2 * 24 * time.Hour
	require.Equal(t, store.DefaultRollupRetention, historyPolicy(cfg).RollupRetention)
	st, err := store.Open(ctx, pgtest.Schema(t), 2, store.WithHistoryPolicy(historyPolicy(cfg)))
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Migrate(ctx)
	require.NoError(t, err)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	rep, err := maintenanceLoop(st, cfg, zap.NewNop()).Pass(ctx, now)
	require.NoError(t, err)
	require.True(t, rep.Ran)
	require.Contains(t, rep.Created, "check_results_p20260308")
	require.Contains(t, rep.Created, "check_results_p20260313")
	require.NotContains(t, rep.Created, "check_results_p20260307")
}
