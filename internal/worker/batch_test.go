package worker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/store"
)

type countingRecorder struct{ n chan int }

func (r countingRecorder) Record(_ context.Context, rs []check.Result) (store.RecordOutcome, error) {
	r.n <- len(rs)
	return store.RecordOutcome{Stored: len(rs)}, nil
}

// Closing the batcher flushes a lingering batch at once: its callers are
// waiting for their reply and must not wait out the linger.
func TestCloseFlushesALingeringBatch(t *testing.T) {
	rec := countingRecorder{n: make(chan int, 1)}
	b := newBatcher(rec, 100, 1, time.Hour)
	p := &pending{ctx: context.Background(), result: check.Result{CheckID: "a"}, reply: make(chan recorded, 1)}
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
	first := &pending{ctx: context.Background(), result: check.Result{CheckID: "a"}, reply: make(chan recorded, 1)}
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
