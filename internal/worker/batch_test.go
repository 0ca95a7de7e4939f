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
