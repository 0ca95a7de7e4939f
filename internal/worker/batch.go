package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// batcher group-commits results: concurrent Handle calls each hand in one
// result and wait; a flusher takes whatever is waiting (up to max) and
// records it in one transaction. Nothing waits for a batch to fill - a lone
// result is flushed at once - but under load the results that arrive
// while a transaction runs share the next one, which is what lets a worker
// store thousands of results per second with a few connections.
type batcher struct {
	rec     Recorder
	max     int
	in      chan *pending
	done    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

type pending struct {
	ctx    context.Context
	result check.Result
	reply  chan recorded
}

type recorded struct {
	transitions []check.Transition
	err         error
}

var errClosed = errors.New("worker is shutting down")

func newBatcher(r Recorder, max, flushers int) *batcher {
	b := &batcher{rec: r, max: max, in: make(chan *pending), done: make(chan struct{})}
	for range flushers {
		b.stopped.Add(1)
		go b.loop()
	}
	return b
}

func (b *batcher) record(ctx context.Context, r check.Result) (recorded, error) {
	p := &pending{ctx: ctx, result: r, reply: make(chan recorded, 1)}
	select {
	case b.in <- p:
	case <-ctx.Done():
		return recorded{}, ctx.Err()
	case <-b.done:
		return recorded{}, errClosed
	}
	// The reply always comes: the flusher answers every pending it took.
	out := <-p.reply
	return out, out.err
}

func (b *batcher) loop() {
	defer b.stopped.Done()
	for {
		var first *pending
		select {
		case first = <-b.in:
		case <-b.done:
			return
		}
		batch := []*pending{first}
	fill:
		for len(batch) < b.max {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.flush(batch)
	}
}

func (b *batcher) flush(batch []*pending) {
	results := make([]check.Result, len(batch))
	for i, p := range batch {
		results[i] = p.result
	}
	// The batch outlives any one caller's context, so it gets its own
	// bound; callers that gave up still get (and ignore) their reply.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := b.rec.Record(ctx, results)
	if err != nil {
		for _, p := range batch {
			p.reply <- recorded{err: err}
		}
		return
	}
	type key struct {
		id string
		at int64
	}
	byResult := make(map[key][]check.Transition, len(out.Transitions))
	for _, t := range out.Transitions {
		k := key{t.CheckID, t.ScheduledAt.UnixMicro()}
		byResult[k] = append(byResult[k], t)
	}
	for _, p := range batch {
		k := key{p.result.CheckID, p.result.ScheduledAt.UnixMicro()}
		p.reply <- recorded{transitions: byResult[k]}
	}
}

func (b *batcher) close() {
	b.once.Do(func() { close(b.done) })
	b.stopped.Wait()
}
