package worker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// batcher group-commits results: concurrent Handle calls each hand in one
// result and wait; a flusher takes the first, keeps the batch open for up
// to linger (or until it holds max) and records it in one transaction.
//
// The linger is what makes recording cheap. A record transaction has a
// fixed cost far above its cost per result (store.BenchmarkRecordBatch;
// docs/benchmarks.md has the figures), so batches of the dozen results
// that happen to arrive during one transaction spend most of the
// database's CPU on the fixed part. The price is that a result's ack and its
// transition's broadcast come up to linger later; the result itself keeps
// the time it was checked.
type batcher struct {
	rec     Recorder
	max     int
	linger  time.Duration
	in      chan *pending
	done    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once
}

type pending struct {
	result check.Result
	reply  chan recorded
}

type recorded struct {
	transitions []check.Transition
	err         error
}

var errClosed = errors.New("worker is shutting down")

func newBatcher(r Recorder, maxBatch, flushers int, linger time.Duration) *batcher {
	b := &batcher{rec: r, max: maxBatch, linger: linger, in: make(chan *pending), done: make(chan struct{})}
	for range flushers {
		b.stopped.Add(1)
		go b.loop()
	}
	return b
}

func (b *batcher) record(ctx context.Context, r check.Result) (recorded, error) {
	// A caller that has given up is not enqueued: select picks at random
	// among ready cases, and a lingering flusher is always ready to take.
	if err := ctx.Err(); err != nil {
		return recorded{}, err
	}
	p := &pending{result: r, reply: make(chan recorded, 1)}
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
		b.flush(b.fill(first))
	}
}

// fill gathers a batch behind first: what arrives within linger, up to
// max. A stop cuts the wait short; what was gathered is still flushed, as
// its callers are waiting for it.
func (b *batcher) fill(first *pending) []*pending {
	batch := []*pending{first}
	if b.linger <= 0 {
		for len(batch) < b.max {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				return batch
			}
		}
		return batch
	}
	t := time.NewTimer(b.linger)
	defer t.Stop()
	for len(batch) < b.max {
		select {
		case p := <-b.in:
			batch = append(batch, p)
		case <-t.C:
			return batch
		case <-b.done:
			return batch
		}
	}
	return batch
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
	switch {
	case err == nil:
		answer(batch, out)
	case len(batch) > 1:
		b.flushEach(ctx, batch, err)
	default:
		batch[0].reply <- recorded{err: err}
	}
}

// maxLeadingFailures is how many results flushEach records one by one,
// all failing, before it takes the batch's failure for the database's
// rather than a row's.
const maxLeadingFailures = 3

// flushEach records the results of a failed batch one at a time, so a
// result the database refuses fails alone instead of sending every job of
// its batch back to the queue (to fail the same way on every redelivery).
//
// The retry cannot tell a poisoned row from an unreachable database by the
// error (pgx's types stay in the store, and a fake recorder has none), so
// it tells them apart by what happens: once a result has been recorded on
// its own, the database works and every other result gets its own try;
// while the first maxLeadingFailures all fail, the cause is taken to be
// the database and the rest are failed with the batch's error. A database
// outage thus costs a few more attempts per batch, not one per result. The
// price is that a batch whose first three results are all poisoned sends
// its healthy results back for one more delivery; they are not lost.
func (b *batcher) flushEach(ctx context.Context, batch []*pending, batchErr error) {
	recordedOne := false
	for i, p := range batch {
		out, err := b.rec.Record(ctx, []check.Result{p.result})
		if err == nil {
			recordedOne = true
			answer(batch[i:i+1], out)
			continue
		}
		p.reply <- recorded{err: err}
		if !recordedOne && i+1 >= maxLeadingFailures {
			for _, rest := range batch[i+1:] {
				rest.reply <- recorded{err: batchErr}
			}
			return
		}
	}
}

// answer hands each pending of a recorded batch the transitions its own
// result caused.
func answer(batch []*pending, out registry.RecordOutcome) {
	type key struct {
		id     string
		at     int64
		region string
	}
	byResult := make(map[key][]check.Transition, len(out.Transitions))
	for _, t := range out.Transitions {
		k := key{t.CheckID, t.ScheduledAt.UnixMicro(), t.ResultRegion()}
		byResult[k] = append(byResult[k], t)
	}
	for _, p := range batch {
		k := key{p.result.CheckID, p.result.ScheduledAt.UnixMicro(), p.result.ResultRegion()}
		p.reply <- recorded{transitions: byResult[k]}
	}
}

func (b *batcher) close() {
	b.once.Do(func() { close(b.done) })
	b.stopped.Wait()
}
