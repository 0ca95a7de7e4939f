package queue

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestPublishConsumeAck(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	require.NoError(t, pub.Healthy())
	jobs := testJobs(5)
	require.NoError(t, pub.PublishJobs(context.Background(), jobs))

	// The declared topology is in place: the jobs wait in the queue, all
	// five in one message (the default carries up to 50).
	require.Equal(t, 1, queueDepth(t, cfg.JobQueue))
	require.Equal(t, 0, queueDepth(t, cfg.deadLetterQueue()))

	var mu sync.Mutex
	got := map[string]check.Job{}
	ids := map[string]string{}
	stop := runConsumer(t, cfg, 2, func(_ context.Context, job check.Job, d Delivery) Outcome {
		mu.Lock()
		defer mu.Unlock()
		got[job.CheckID] = job
		ids[job.CheckID] = d.MessageID
		return Ack
	})
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(jobs)
	}, eventually, 10*time.Millisecond)
	stop()

	for _, want := range jobs {
		job := got[want.CheckID]
		require.True(t, want.ScheduledAt.Equal(job.ScheduledAt))
		job.ScheduledAt = want.ScheduledAt
		require.Equal(t, want, job)
		require.Equal(t, JobMessageID(want), ids[want.CheckID])
	}
	// Stopping closed the connection, so anything unacked would be back.
	require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
}

func TestPublishJobsSplitsIntoMessages(t *testing.T) {
	jobs := testJobs(7)
	tests := []struct {
		name     string
		per      int
		wantJobs [][]check.Job // per message, in order
	}{
		{name: "3 per message", per: 3, wantJobs: [][]check.Job{jobs[0:3], jobs[3:6], jobs[6:7]}},
		{name: "exact multiple", per: 7, wantJobs: [][]check.Job{jobs}},
		{name: "1 per message is the old format", per: 1,
			wantJobs: [][]check.Job{jobs[0:1], jobs[1:2], jobs[2:3], jobs[3:4], jobs[4:5], jobs[5:6], jobs[6:7]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.JobsPerMessage = tt.per
			pub := newPublisher(t, cfg)
			require.NoError(t, pub.PublishJobs(context.Background(), jobs))

			msgs := getAll(t, cfg.JobQueue)
			require.Len(t, msgs, len(tt.wantJobs))
			for i, m := range msgs {
				want := tt.wantJobs[i]
				require.EqualValues(t, 2, m.DeliveryMode, "jobs must survive a broker restart")
				require.Equal(t, "application/json", m.ContentType)
				got, err := DecodeJobs(m.Body)
				require.NoError(t, err)
				require.Len(t, got, len(want))
				for j := range got {
					requireSameJob(t, want[j], got[j])
				}
				if len(want) == 1 {
					require.Equal(t, "vigil.job", m.Type)
					require.Equal(t, JobMessageID(want[0]), m.MessageId)
					require.Equal(t, byte('{'), m.Body[0], "a lone job is an object, as older workers expect")
				} else {
					require.Equal(t, "vigil.jobs", m.Type)
					require.Equal(t, JobMessageID(want[0])+"+"+strconv.Itoa(len(want)-1), m.MessageId)
				}
			}
		})
	}
}

func TestPublishJobsSplitsByBytes(t *testing.T) {
	cfg := testConfig(t)
	cfg.JobsPerMessage = 10
	jobs := testJobs(6)
	one, err := EncodeJob(jobs[0])
	require.NoError(t, err)
	// Room for two jobs per message but not three: brackets, commas and
	// ids of one more digit included.
	cfg.MaxMessageBytes = 2*len(one) + 20
	pub := newPublisher(t, cfg)
	require.NoError(t, pub.PublishJobs(context.Background(), jobs))

	msgs := getAll(t, cfg.JobQueue)
	require.Len(t, msgs, 3, "the byte budget splits before the count does")
	var got []check.Job
	for _, m := range msgs {
		require.LessOrEqual(t, len(m.Body), cfg.MaxMessageBytes)
		batch, err := DecodeJobs(m.Body)
		require.NoError(t, err)
		require.Len(t, batch, 2)
		got = append(got, batch...)
	}
	for i := range jobs {
		requireSameJob(t, jobs[i], got[i])
	}
}

func TestPublishJobsSkipsJobsNoMessageCanCarry(t *testing.T) {
	cfg := testConfig(t)
	core, logs := observer.New(zapcore.ErrorLevel)
	cfg.Logger = zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core(), core))
	var skipped []string
	var mu sync.Mutex
	cfg.OnUnpublishable = func(reason string) {
		mu.Lock()
		defer mu.Unlock()
		skipped = append(skipped, reason)
	}
	pub := newPublisher(t, cfg)
	jobs := testJobs(5)
	// Past every registration bound: a 20 MiB URL is larger than the
	// broker's 16 MiB max_message_size on its own, so no message could
	// carry it, and publishing it would fail the whole batch.
	jobs[1].URL = "http://example.com/" + strings.Repeat("a", 20<<20)
	jobs[3].Timeout = 0 // no worker could run it
	require.NoError(t, pub.PublishJobs(context.Background(), jobs), "the rest of the batch is published")

	msgs := getAll(t, cfg.JobQueue)
	require.Len(t, msgs, 1)
	got, err := DecodeJobs(msgs[0].Body)
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i, want := range []check.Job{jobs[0], jobs[2], jobs[4]} {
		requireSameJob(t, want, got[i])
	}
	require.Equal(t, []string{UnpublishableTooLarge, UnpublishableInvalid}, skipped)
	lines := logs.FilterMessage("job cannot be published, skipping this tick").All()
	require.Len(t, lines, 2)
	for i, j := range []check.Job{jobs[1], jobs[3]} {
		fields := lines[i].ContextMap()
		require.Equal(t, j.CheckID, fields["check_id"])
		require.Equal(t, j.Service, fields["service"])
	}

	// A batch of nothing but such jobs publishes nothing and succeeds.
	require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{jobs[1]}))
	require.Equal(t, 0, queueDepth(t, cfg.JobQueue))

	require.NoError(t, pub.PublishJobs(context.Background(), nil), "an empty batch is a no-op")
	require.NoError(t, pub.PublishTransitions(context.Background(), nil))
	_, err = EncodeTransition(check.Transition{})
	require.Error(t, err)
	require.ErrorIs(t, pub.PublishTransitions(context.Background(), []check.Transition{{}}), ErrMalformed)
}

func TestPublishJobsUnroutableRedeclares(t *testing.T) {
	cfg := testConfig(t)
	cfg.JobsPerMessage = 2
	pub := newPublisher(t, cfg)
	admin := adminChannel(t)
	_, err := admin.QueueDelete(cfg.JobQueue, false, false, false)
	require.NoError(t, err)

	err = pub.PublishJobs(context.Background(), testJobs(3))
	require.ErrorIs(t, err, ErrUnroutable, "jobs must never vanish silently")
	require.ErrorContains(t, err, "2 of 2 messages (3 jobs in all)")
	require.NoError(t, pub.PublishJobs(context.Background(), testJobs(3)), "the queue was declared again")
	require.Equal(t, 2, queueDepth(t, cfg.JobQueue))
}

func TestPublishTransitionsWithoutSubscribers(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	require.NoError(t, pub.PublishTransitions(context.Background(), []check.Transition{testTransition("c1", 1)}))
}

func TestPublisherConcurrentUse(t *testing.T) {
	cfg := testConfig(t)
	cfg.JobsPerMessage = 4
	pub := newPublisher(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 10 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- pub.PublishJobs(context.Background(), testJobs(10+i))
		}()
		go func() {
			defer wg.Done()
			errs <- pub.PublishTransitions(context.Background(), []check.Transition{testTransition("c", int64(i+1))})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	jobs := 0
	for _, m := range getAll(t, cfg.JobQueue) {
		got, err := DecodeJobs(m.Body)
		require.NoError(t, err)
		require.LessOrEqual(t, len(got), 4)
		jobs += len(got)
	}
	require.Equal(t, 10*10+45, jobs)
}

func TestPublishJobsContextCancelled(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, pub.PublishJobs(ctx, testJobs(2)), context.Canceled)
	require.ErrorIs(t, pub.PublishTransitions(ctx, []check.Transition{testTransition("c1", 1)}), context.Canceled)
	// The publisher stays usable.
	require.NoError(t, pub.PublishJobs(context.Background(), testJobs(2)))
}

func TestPublisherClose(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	require.NoError(t, pub.Close())
	require.NoError(t, pub.Close(), "close is idempotent")
	require.ErrorIs(t, pub.Healthy(), ErrClosed)
	require.ErrorIs(t, pub.PublishJobs(context.Background(), testJobs(1)), ErrClosed)
	require.ErrorIs(t, pub.PublishTransitions(context.Background(), []check.Transition{testTransition("c1", 1)}), ErrClosed)
}

func TestNewPublisherFailsWhenBrokerUnreachable(t *testing.T) {
	cfg := testConfig(t)
	cfg.URL = closedPortURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := NewPublisher(ctx, cfg)
	require.ErrorIs(t, err, ErrNotConnected)
	require.ErrorContains(t, err, "connection refused", "the cause is reported")
}

func TestNewPublisherRejectsBadConfig(t *testing.T) {
	_, err := NewPublisher(context.Background(), Config{URL: "http://127.0.0.1/"})
	require.Error(t, err)
}

func TestNewPublisherReportsRefusedTopology(t *testing.T) {
	cfg := testConfig(t)
	// A jobs queue declared with other arguments cannot be redeclared; that
	// is an operator's mistake the publisher must name, not hide.
	admin := adminChannel(t)
	_, err := admin.QueueDeclare(cfg.JobQueue, false, true, false, false, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = NewPublisher(ctx, cfg)
	require.ErrorIs(t, err, ErrNotConnected)
	require.ErrorContains(t, err, "PRECONDITION_FAILED")
}
