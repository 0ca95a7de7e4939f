package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

type countingRecorder struct{ n chan int }

func (r countingRecorder) Record(_ context.Context, rs []check.Result) (registry.RecordOutcome, error) {
	r.n <- len(rs)
	return registry.RecordOutcome{Stored: len(rs)}, nil
}

// Closing the batcher flushes a lingering batch at once: its callers are
// waiting for their reply and must not wait out the linger.
func TestCloseFlushesALingeringBatch(t *testing.T) {
	rec := countingRecorder{n: make(chan int, 1)}
	b := newBatcher(rec, 100, 1, time.Hour)
	p := &pending{result: check.Result{CheckID: "a"}, reply: make(chan recorded, 1)}
	b.in <- p // returns once the flusher holds it: the batch is open
	closed := make(chan struct{})
	go func() { b.close(); close(closed) }()
	select {
	case out := <-p.reply:
		require.NoError(t, out.err)
	case <-time.After(5 * time.Second):
		t.Fatal("the lingering batch was not flushed on close")
	}
	require.Equal(t, 1, <-rec.n)
	<-closed
}

// A caller whose context is already done is turned away even while a
// flusher lingers, ready to take more: its job is going back to the queue,
// so its result must not be recorded.
func TestRecordTurnsAwayACancelledCaller(t *testing.T) {
	rec := countingRecorder{n: make(chan int, 1)}
	b := newBatcher(rec, 100, 1, time.Hour)
	first := &pending{result: check.Result{CheckID: "a"}, reply: make(chan recorded, 1)}
	b.in <- first // the flusher now lingers, receiving
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// select would pick the send half the time; twenty tries make a
	// regression all but certain to show.
	for range 20 {
		got := make(chan error, 1)
		go func() {
			_, err := b.record(ctx, check.Result{CheckID: "b"})
			got <- err
		}()
		select {
		case err := <-got:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(5 * time.Second):
			b.close() // lets the stuck call return
			t.Fatal("a cancelled caller was enqueued and waits for the linger")
		}
	}
	b.close()
	require.Equal(t, 1, <-rec.n, "only the first result was recorded")
}

// poisonRecorder fails any batch that holds a poisoned result, as
// PostgreSQL fails a whole transaction over one row it refuses, and every
// batch while the database is down. Each result it records causes one
// transition.
type poisonRecorder struct {
	poison map[string]bool
	down   bool
	calls  [][]string // the check ids of every Record call
}

var (
	errPoison = errors.New("record: invalid byte sequence for encoding UTF8")
	errDown   = errors.New("record: connection refused")
)

func (r *poisonRecorder) Record(_ context.Context, rs []check.Result) (registry.RecordOutcome, error) {
	ids := make([]string, len(rs))
	var out registry.RecordOutcome
	for i, res := range rs {
		ids[i] = res.CheckID
		out.Transitions = append(out.Transitions, check.Transition{
			ID: int64(len(r.calls)*100 + i), CheckID: res.CheckID, ScheduledAt: res.ScheduledAt, To: check.StateUp})
	}
	r.calls = append(r.calls, ids)
	if r.down {
		return registry.RecordOutcome{}, errDown
	}
	for _, id := range ids {
		if r.poison[id] {
			return registry.RecordOutcome{}, errPoison
		}
	}
	out.Stored = len(rs)
	return out, nil
}

// pendings makes one pending per check id, all for the same tick.
func pendings(ids ...string) []*pending {
	batch := make([]*pending, len(ids))
	for i, id := range ids {
		batch[i] = &pending{reply: make(chan recorded, 1),
			result: check.Result{CheckID: id, ScheduledAt: time.Unix(1700000000, 0)}}
	}
	return batch
}

// One result the database refuses fails alone; the others of its batch are
// recorded and answered with their own transitions.
func TestFlushRetriesAFailedBatchRowByRow(t *testing.T) {
	for _, poisoned := range []string{"a", "c", "e"} {
		t.Run("poisoned "+poisoned, func(t *testing.T) {
			rec := &poisonRecorder{poison: map[string]bool{poisoned: true}}
			b := &batcher{rec: rec}
			batch := pendings("a", "b", "c", "d", "e")
			b.flush(batch)

			for _, p := range batch {
				got := <-p.reply
				if p.result.CheckID == poisoned {
					require.ErrorIs(t, got.err, errPoison)
					require.Empty(t, got.transitions)
					continue
				}
				require.NoError(t, got.err, p.result.CheckID)
				require.Len(t, got.transitions, 1, p.result.CheckID)
				require.Equal(t, p.result.CheckID, got.transitions[0].CheckID)
			}
			require.Equal(t, [][]string{{"a", "b", "c", "d", "e"}, {"a"}, {"b"}, {"c"}, {"d"}, {"e"}}, rec.calls,
				"one batch attempt, then each result on its own")
		})
	}
}

// A batch that fails because the database is down is not retried once per
// result: after maxLeadingFailures single attempts fail, the rest are
// failed with the batch's error and go back to the queue.
func TestFlushGivesUpWhenEveryRowFails(t *testing.T) {
	rec := &poisonRecorder{down: true}
	b := &batcher{rec: rec}
	batch := pendings("a", "b", "c", "d", "e", "f", "g", "h")
	b.flush(batch)
	for _, p := range batch {
		require.ErrorIs(t, (<-p.reply).err, errDown, p.result.CheckID)
	}
	require.Len(t, rec.calls, 1+maxLeadingFailures)
}

// Once one result has been recorded alone the database works, so later
// failures are the rows' own and every result still gets its try.
func TestFlushKeepsGoingAfterOneRowSucceeds(t *testing.T) {
	rec := &poisonRecorder{poison: map[string]bool{"b": true, "c": true, "d": true, "e": true}}
	b := &batcher{rec: rec}
	batch := pendings("a", "b", "c", "d", "e", "f")
	b.flush(batch)
	for _, p := range batch {
		err := (<-p.reply).err
		if rec.poison[p.result.CheckID] {
			require.ErrorIs(t, err, errPoison, p.result.CheckID)
		} else {
			require.NoError(t, err, p.result.CheckID)
		}
	}
	require.Len(t, rec.calls, 1+len(batch))
}

// A failed batch of one is its result's failure: nothing to retry.
func TestFlushDoesNotRetryASingleResult(t *testing.T) {
	rec := &poisonRecorder{poison: map[string]bool{"a": true}}
	b := &batcher{rec: rec}
	batch := pendings("a")
	b.flush(batch)
	require.ErrorIs(t, (<-batch[0].reply).err, errPoison)
	require.Len(t, rec.calls, 1)
}
