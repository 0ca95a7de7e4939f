package queue

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkPublishJobs measures confirmed publishing of one scheduler tick's
// worth of jobs (a batch of 500) against the real broker, one job per
// message (the format before multi-job messages) and at the default jobs
// per message. Run with
//
//	go test -run '^$' -bench PublishJobs ./internal/queue/
//
// jobs/s is the figure to compare; ns/op is per batch.
func BenchmarkPublishJobs(b *testing.B) {
	for _, per := range []int{1, DefaultJobsPerMessage} {
		b.Run(fmt.Sprintf("jobs-per-message=%d", per), func(b *testing.B) {
			benchmarkPublishJobs(b, per)
		})
	}
}

func benchmarkPublishJobs(b *testing.B, perMessage int) {
	const batch = 500
	cfg := testConfig(b)
	cfg.JobsPerMessage = perMessage
	pub := newPublisher(b, cfg)
	admin := adminChannel(b)
	jobs := testJobs(batch)
	ctx := context.Background()

	b.ReportAllocs()
	n := 0
	for b.Loop() {
		require.NoError(b, pub.PublishJobs(ctx, jobs))
		n++
		if n%20 == 0 {
			// Keep the queue short so the broker's paging does not
			// become what is measured.
			b.StopTimer()
			_, err := admin.QueuePurge(cfg.JobQueue, false)
			require.NoError(b, err)
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "jobs/s")
}
