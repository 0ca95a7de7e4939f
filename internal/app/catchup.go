package app

import (
	"context"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// feed follows the transitions a server replica has handed its WebSocket
// clients, so that after its broker subscription was cut it can hand them
// what was published while it was away, from the transitions table.
type feed struct {
	lastID  atomic.Int64
	bound   atomic.Bool
	list    func(context.Context, registry.TransitionQuery) ([]check.Transition, error)
	publish func(check.Transition)
	log     *zap.Logger
}

// seen records a transition delivered live.
func (f *feed) seen(id int64) {
	for {
		cur := f.lastID.Load()
		if id <= cur || f.lastID.CompareAndSwap(cur, id) {
			return
		}
	}
}

// subscribed is called whenever the subscription is (re)bound; from the
// second time on it catches up. The hub drops ids it already delivered.
func (f *feed) subscribed(ctx context.Context) {
	if f.bound.CompareAndSwap(false, true) {
		return
	}
	go f.catchUp(ctx)
}

func (f *feed) catchUp(ctx context.Context) {
	n := 0
	for {
		ts, err := f.list(ctx, registry.TransitionQuery{AfterID: f.lastID.Load(), Limit: 500})
		if err != nil {
			f.log.Warn("catch up on missed transitions", zap.Error(err))
			return
		}
		for _, t := range ts {
			f.publish(t)
			f.seen(t.ID)
		}
		n += len(ts)
		if len(ts) < 500 {
			break
		}
	}
	if n > 0 {
		f.log.Info("caught up on transitions missed while the broker was away", zap.Int("transitions", n))
	}
}
