package app

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/maintenance"
	"github.com/vigil-dev/vigil/internal/store"
)

// historyPolicy is the store's history policy from the process settings.
func historyPolicy(cfg config.Config) store.HistoryPolicy {
	return store.HistoryPolicy{ResultsRetention: cfg.ResultsRetention, RollupRetention: cfg.RollupRetention}.WithDefaults()
}

// maintenanceLoop is the history maintenance every server and operator
// replica runs; the store's lock lets one pass run at a time.
func maintenanceLoop(st *store.Store, cfg config.Config, log *zap.Logger) *maintenance.Loop {
	p := historyPolicy(cfg)
	return &maintenance.Loop{
		Log: log.Named("maintenance"),
		Pass: func(ctx context.Context, now time.Time) (maintenance.Report, error) {
			r, err := st.Maintain(ctx, now, p)
			return maintenance.Report{Ran: r.Ran, Created: r.Created, Dropped: r.Dropped, RolledUp: r.RolledUp,
				PrunedDeliveries: r.PrunedDeliveries}, err
		},
	}
}
