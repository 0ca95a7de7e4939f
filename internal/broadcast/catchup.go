package broadcast

import (
	"context"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// Feed follows the transitions a server replica has handed its WebSocket
// clients, so that after its broker subscription was cut it can hand them
// what was published while it was away, from the transitions table.
type Feed struct {
	lastID  atomic.Int64
	bound   atomic.Bool
	list    func(ctx context.Context, afterID int64, limit int) ([]check.Transition, error)
	publish func(check.Transition)
	log     *zap.Logger
}

// NewFeed returns a Feed that reads missed transitions with list (the
// same shape as Config.Replay: ascending ids above afterID, at most limit)
// and hands them to publish, normally Hub.Publish.
func NewFeed(list ReplayFunc, publish func(check.Transition), log *zap.Logger) *Feed {
	if log == nil {
		log = zap.NewNop()
	}
	return &Feed{list: list, publish: publish, log: log}
}

// Seen records a transition delivered live.
func (f *Feed) Seen(id int64) {
	for {
		cur := f.lastID.Load()
		if id <= cur || f.lastID.CompareAndSwap(cur, id) {
			return
		}
	}
}

// Subscribed is called whenever the subscription is (re)bound; from the
// second time on it catches up. The hub drops ids it already delivered.
func (f *Feed) Subscribed(ctx context.Context) {
	if f.bound.CompareAndSwap(false, true) {
		return
	}
	go f.catchUp(ctx)
}

func (f *Feed) catchUp(ctx context.Context) {
	n := 0
	for {
		ts, err := f.list(ctx, f.lastID.Load(), 500)
		if err != nil {
			f.log.Warn("catch up on missed transitions", zap.Error(err))
			return
		}
		for _, t := range ts {
			f.publish(t)
			f.Seen(t.ID)
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
