package queue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPublisherPoolPublishesConcurrently(t *testing.T) {
	cfg := testConfig(t)
	cfg.JobsPerMessage = 10 // every publisher splits as configured
	pool, err := NewPublisherPool(context.Background(), cfg, 3)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pool.Close()) })
	require.NoError(t, pool.Healthy())
	require.EqualValues(t, 3, pool.Sessions(), "one session per publisher, summed")

	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			assert.NoError(t, pool.PublishJobs(context.Background(), testJobs(50)))
		})
	}
	wg.Wait()
	require.Eventually(t, func() bool { return queueDepth(t, cfg.JobQueue) == 6*5 }, eventually, 10*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 3 {
		<-pool.free // every publisher busy
	}
	require.ErrorIs(t, pool.PublishJobs(ctx, testJobs(1)), context.Canceled)

	_, err = NewPublisherPool(context.Background(), cfg, 0)
	require.Error(t, err)
}
