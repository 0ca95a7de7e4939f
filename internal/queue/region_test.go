package queue

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// regionCleanup removes the region queues a test's publisher declared.
func regionCleanup(t *testing.T, cfg Config, regions ...string) {
	admin := adminChannel(t)
	t.Cleanup(func() {
		for _, r := range regions {
			_, _ = admin.QueueDelete(cfg.JobQueueFor(r), false, false, false)
		}
	})
}

func TestJobQueueFor(t *testing.T) {
	cfg := Config{JobQueue: "vigil.jobs"}
	require.Equal(t, "vigil.jobs", cfg.JobQueueFor(""))
	require.Equal(t, "vigil.jobs", cfg.JobQueueFor(check.DefaultRegion))
	require.Equal(t, "vigil.jobs.region.eu", cfg.JobQueueFor("eu"))
	require.Equal(t, "vigil.jobs.region.dead", cfg.JobQueueFor("dead"), "a region never lands on the dead-letter queue")
	_, err := Config{URL: "amqp://localhost/", Region: "EU"}.withDefaults()
	require.Error(t, err)
}

// TestPublishJobsRoutesByRegion: jobs without a region go to the jobs
// queue as before; a region's jobs go, packed apart, to a queue of their
// own that the publisher declares (nobody consumes it yet) with a TTL, and
// a consumer of that region takes only them.
func TestPublishJobsRoutesByRegion(t *testing.T) {
	cfg := testConfig(t)
	regionCleanup(t, cfg, "eu", "us")
	pub := newPublisher(t, cfg)
	base := time.Now().Truncate(time.Millisecond)
	var jobs []check.Job
	for i, r := range []string{"", "eu", "us", "eu", ""} {
		j := testJob("c"+string(rune('a'+i)), base)
		j.Region, j.Interval = r, 10*time.Second
		jobs = append(jobs, j)
	}
	require.NoError(t, pub.PublishJobs(context.Background(), jobs))

	require.Equal(t, 1, queueDepth(t, cfg.JobQueue), "the default jobs in one message, as before")
	require.Equal(t, 1, queueDepth(t, cfg.JobQueueFor("eu")))
	require.Equal(t, 1, queueDepth(t, cfg.JobQueueFor("us")))
	def := getAll(t, cfg.JobQueue)
	require.Empty(t, def[0].Expiration, "default-region messages are what they were")
	us := getAll(t, cfg.JobQueueFor("us"))
	require.Equal(t, "10000", us[0].Expiration, "a region's job expires after its interval")
	got, err := DecodeJobs(us[0].Body)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "us", got[0].Region)
	require.Equal(t, "cc/"+strconv.FormatInt(base.UnixMilli(), 10)+"@us", us[0].MessageId)

	var (
		mu   sync.Mutex
		seen []string
	)
	eu := cfg
	eu.Region = "eu"
	stop := runConsumer(t, eu, 2, func(_ context.Context, job check.Job, _ Delivery) Outcome {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, job.CheckID+"@"+job.Region)
		return Ack
	})
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 2 }, eventually, 10*time.Millisecond)
	stop()
	require.ElementsMatch(t, []string{"cb@eu", "cd@eu"}, seen)
	require.Equal(t, 0, queueDepth(t, cfg.JobQueueFor("eu")))
}

// TestRegionQueueDropsWhatNobodyTakes: a region without workers holds its
// jobs for about one interval, not forever, and they do not move to the
// dead-letter queue either.
func TestRegionQueueDropsWhatNobodyTakes(t *testing.T) {
	cfg := testConfig(t)
	regionCleanup(t, cfg, "gone")
	pub := newPublisher(t, cfg)
	j := testJob("c1", time.Now())
	j.Region, j.Interval = "gone", time.Second
	require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{j}))
	require.Equal(t, 1, queueDepth(t, cfg.JobQueueFor("gone")))
	require.Eventually(t, func() bool { return queueDepth(t, cfg.JobQueueFor("gone")) == 0 }, 10*time.Second, 100*time.Millisecond)
	require.Equal(t, 0, queueDepth(t, cfg.deadLetterQueue()))

	// A queue deleted behind the publisher's back is declared again.
	_, err := adminChannel(t).QueueDelete(cfg.JobQueueFor("gone"), false, false, false)
	require.NoError(t, err)
	j.ScheduledAt = j.ScheduledAt.Add(time.Second)
	err = pub.PublishJobs(context.Background(), []check.Job{j})
	if err != nil {
		require.ErrorIs(t, err, ErrUnroutable)
		require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{j}))
	}
	require.Equal(t, 1, queueDepth(t, cfg.JobQueueFor("gone")))
}
