// Package maintenance runs the history maintenance loop: every interval,
// one pass of partition creation, rollups and retention (of results,
// rollups and finished notification deliveries). Every server and
// operator process runs the loop; the pass itself takes a database lock,
// so one process at a time does the work and the others find the lock
// taken and wait for the next tick.
package maintenance

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// DefaultInterval is how often a pass is tried. Rollups lag the hour they
// describe by the rollup grace plus at most this; the passes between hour
// boundaries find little to do.
const DefaultInterval = time.Minute

// Report is what a pass says it did; it mirrors store.MaintenanceReport
// so the loop does not import the store.
type Report struct {
	Ran      bool
	Created  []string
	Dropped  []string
	RolledUp int
	// PrunedDeliveries counts the finished deliveries retention deleted.
	PrunedDeliveries int
}

// PassFunc runs one pass as of now.
type PassFunc func(ctx context.Context, now time.Time) (Report, error)

// Loop runs passes.
type Loop struct {
	Pass PassFunc
	// Now is the clock passes run at; time.Now when nil.
	Now func() time.Time
	// Ticks triggers passes after the first; a time.Ticker of
	// DefaultInterval when nil. Tests send on it.
	Ticks <-chan time.Time
	Log   *zap.Logger
}

// Run runs a pass at once and then on every tick until ctx ends. A failed
// pass is logged and tried again at the next tick: maintenance falling
// behind never stops the process (results land in the default partition,
// queries read raw rows past the rollups).
func (l *Loop) Run(ctx context.Context) error {
	now, log := l.Now, l.Log
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	ticks := l.Ticks
	if ticks == nil {
		t := time.NewTicker(DefaultInterval)
		defer t.Stop()
		ticks = t.C
	}
	for {
		l.once(ctx, now(), log)
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
	}
}

func (l *Loop) once(ctx context.Context, now time.Time, log *zap.Logger) {
	rep, err := l.Pass(ctx, now)
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("history maintenance failed", zap.Error(err))
	case rep.Ran && (len(rep.Created) > 0 || len(rep.Dropped) > 0 || rep.RolledUp > 0 || rep.PrunedDeliveries > 0):
		log.Info("history maintenance", zap.Strings("created", rep.Created),
			zap.Strings("dropped", rep.Dropped), zap.Int("rolled_up_hours", rep.RolledUp),
			zap.Int("pruned_deliveries", rep.PrunedDeliveries))
	}
}
