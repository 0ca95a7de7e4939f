package worker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/worker"
)

// regionRecorder keeps the results it is given and says that only region
// b's result caused a transition.
type regionRecorder struct {
	mu      sync.Mutex
	results []check.Result
}

func (f *regionRecorder) Record(_ context.Context, rs []check.Result) (registry.RecordOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results = append(f.results, rs...)
	var out registry.RecordOutcome
	for _, r := range rs {
		if r.Region == "b" {
			out.Transitions = append(out.Transitions, check.Transition{ID: 1, CheckID: r.CheckID, From: check.StateUp,
				To: check.StateDown, At: r.CheckedAt, ScheduledAt: r.ScheduledAt, Region: r.Region})
		}
	}
	return out, nil
}

// TestResultsCarryTheJobsRegion: a result is recorded under its job's
// region, and when the regions of one tick share a record batch each job
// publishes only the transition its own result caused.
func TestResultsCarryTheJobsRegion(t *testing.T) {
	rec, pub := &regionRecorder{}, &fakePublisher{}
	w := newWorker(t, &fakeProber{}, rec, pub, worker.Config{Flushers: 1, MaxBatch: 2, Linger: time.Hour})
	var wg sync.WaitGroup
	for _, region := range []string{"a", "b"} {
		wg.Go(func() {
			j := job("x", 1)
			j.Region = region
			assert.NoError(t, w.Handle(context.Background(), j))
		})
	}
	wg.Wait()
	require.Len(t, rec.results, 2)
	require.ElementsMatch(t, []string{"a", "b"}, []string{rec.results[0].Region, rec.results[1].Region})
	require.Len(t, pub.sent, 1, "region a's job publishes nothing")
	require.Equal(t, "b", pub.sent[0].Region)
}
