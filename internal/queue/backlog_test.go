package queue

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// JobBacklog reports the ready messages and what the publishers had
// confirmed, survives a deleted queue without losing the publishing
// channel, and gives up with its context.
func TestJobBacklog(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.JobsPerMessage = 10
	pool, err := NewPublisherPool(ctx, cfg, 2)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pool.Close()) })

	ready, published, err := pool.JobBacklog(ctx)
	require.NoError(t, err)
	require.Zero(t, ready)
	require.Zero(t, published)

	require.NoError(t, pool.PublishJobs(ctx, testJobs(25))) // 3 messages
	require.NoError(t, pool.PublishJobs(ctx, testJobs(10))) // 1 more
	require.Eventually(t, func() bool {
		ready, published, err = pool.JobBacklog(ctx)
		return err == nil && ready == 4
	}, eventually, 10*time.Millisecond)
	require.Equal(t, uint64(4), published, "confirmed messages of every publisher of the pool")

	// Taken by a consumer, the messages leave the ready count; the
	// published count stays.
	require.Len(t, getAll(t, cfg.JobQueue), 4)
	ready, published, err = pool.JobBacklog(ctx)
	require.NoError(t, err)
	require.Zero(t, ready)
	require.Equal(t, uint64(4), published)

	// A deleted queue fails the poll, not the publisher: the next publish
	// still goes out on its own channel (and declares the queue again).
	_, err = adminChannel(t).QueueDelete(cfg.JobQueue, false, false, false)
	require.NoError(t, err)
	_, _, err = pool.all[0].JobBacklog(ctx)
	require.Error(t, err)
	require.NoError(t, pool.all[0].Healthy(), "the publishing channel is untouched")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = pool.all[1].JobBacklog(cctx)
	require.ErrorIs(t, err, context.Canceled)

	require.NoError(t, pool.Close())
	_, _, err = pool.JobBacklog(ctx)
	require.ErrorIs(t, err, ErrClosed)
}
