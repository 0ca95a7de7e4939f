package queue

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
)

// Tests of messages that carry several jobs: how their jobs' outcomes add up
// to the message's, and how stopping and reconnecting treat a message whose
// jobs have partly started.

func TestConsumeEveryJobOfEveryMessageOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.JobsPerMessage = 3
	pub := newPublisher(t, cfg)
	jobs := testJobs(7)
	require.NoError(t, pub.PublishJobs(context.Background(), jobs))
	require.Equal(t, 3, queueDepth(t, cfg.JobQueue), "7 jobs at 3 per message")

	var log deliveryLog
	stop := runConsumer(t, cfg, 2, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		return Ack
	})
	require.Eventually(t, func() bool { return log.len() == len(jobs) }, eventually, 10*time.Millisecond)
	stop()

	seen := map[string]int{}
	for i, d := range log.deliveries() {
		job := log.jobs[i]
		seen[job.CheckID]++
		require.Equal(t, JobMessageID(job), d.MessageID, "the handler gets the job's id, not the message's")
		require.False(t, d.Redelivered)
	}
	for _, j := range jobs {
		require.Equal(t, 1, seen[j.CheckID], "job %s", j.CheckID)
	}
	require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
	require.Equal(t, 0, queueDepth(t, cfg.deadLetterQueue()))
}

func TestConsumeBatchOutcomes(t *testing.T) {
	// Every case publishes one message of jobs c000, c001, c002; decide
	// gives a job's outcome from its id and whether it ran before. Each job
	// goes its own way: only those that asked run again, only those that
	// asked are dead-lettered.
	tests := []struct {
		name       string
		decide     func(id string, redelivered bool) Outcome
		wantAgain  []string // jobs handled a second time
		wantDead   []string // jobs in the dead-letter queue
		wantReason string
	}{
		{
			name:   "all ack",
			decide: func(string, bool) Outcome { return Ack },
		},
		{
			name: "one requeue runs that job again",
			decide: func(id string, redelivered bool) Outcome {
				if id == "c001" && !redelivered {
					return Requeue
				}
				return Ack
			},
			wantAgain: []string{"c001"},
		},
		{
			name: "one panic runs that job again",
			decide: func(id string, redelivered bool) Outcome {
				if id == "c002" && !redelivered {
					panic("probe exploded")
				}
				return Ack
			},
			wantAgain: []string{"c002"},
		},
		{
			name: "one unknown outcome runs that job again",
			decide: func(id string, redelivered bool) Outcome {
				if id == "c000" && !redelivered {
					return Outcome(42)
				}
				return Ack
			},
			wantAgain: []string{"c000"},
		},
		{
			name: "one dead letter dead-letters that job",
			decide: func(id string, _ bool) Outcome {
				if id == "c001" {
					return DeadLetter
				}
				return Ack
			},
			wantDead: []string{"c001"}, wantReason: DeadLetterHandler,
		},
		{
			name: "requeue and dead letter in one message each go their way",
			decide: func(id string, redelivered bool) Outcome {
				switch {
				case id == "c000":
					return DeadLetter
				case id == "c002" && !redelivered:
					return Requeue
				}
				return Ack
			},
			wantAgain: []string{"c002"}, wantDead: []string{"c000"}, wantReason: DeadLetterHandler,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			var dead atomic.Int32
			cfg.OnDeadLetter = func(reason string) {
				require.Equal(t, tt.wantReason, reason)
				dead.Add(1)
			}
			pub := newPublisher(t, cfg)
			jobs := testJobs(3)
			before := time.Now().Truncate(time.Millisecond)
			require.NoError(t, pub.PublishJobs(context.Background(), jobs))
			published := time.Now()
			require.Equal(t, 1, queueDepth(t, cfg.JobQueue))

			var log deliveryLog
			stop := runConsumer(t, cfg, 2, func(_ context.Context, job check.Job, d Delivery) Outcome {
				log.add(job, d)
				return tt.decide(job.CheckID, d.Redelivered)
			})
			want := len(jobs) + len(tt.wantAgain)
			require.Eventually(t, func() bool { return log.len() >= want }, eventually, 10*time.Millisecond)
			require.Eventually(t, func() bool {
				return queueDepth(t, cfg.JobQueue) == 0 && queueDepth(t, cfg.deadLetterQueue()) == min(len(tt.wantDead), 1)
			}, eventually, 20*time.Millisecond)
			stop()

			seen := log.deliveries()
			require.Len(t, seen, want, "each job ran once, and again only if it asked to")
			var again []string
			for i, d := range seen {
				require.Equal(t, JobMessageID(log.jobs[i]), d.MessageID)
				if d.Redelivered {
					again = append(again, log.jobs[i].CheckID)
					require.Equal(t, 2, d.Attempt)
					require.True(t, d.PublishedAt.After(published), "a retry is stamped when it is published again, not with the original's time: %s", d.PublishedAt)
				} else {
					require.Equal(t, 1, d.Attempt)
					require.False(t, d.PublishedAt.Before(before), "published at %s, before the publish began at %s", d.PublishedAt, before)
					require.False(t, d.PublishedAt.After(published), "published at %s, after the publish returned at %s", d.PublishedAt, published)
				}
			}
			require.ElementsMatch(t, tt.wantAgain, again)

			require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
			require.EqualValues(t, min(len(tt.wantDead), 1), dead.Load(), "the dead-letter hook counts messages")
			var deadIDs []string
			for _, m := range getAll(t, cfg.deadLetterQueue()) {
				got, err := DecodeJobs(m.Body)
				require.NoError(t, err)
				for _, j := range got {
					deadIDs = append(deadIDs, j.CheckID)
				}
				require.Equal(t, tt.wantReason, m.Headers[deadReasonHeader])
				require.NotContains(t, m.Headers, attemptHeader, "moved back, it starts counting afresh")
				require.NotContains(t, m.Headers, publishedAtHeader, "moved back, it is not shed for its time in the dead-letter queue")
			}
			require.ElementsMatch(t, tt.wantDead, deadIDs, "only the jobs that asked are dead-lettered")
		})
	}
}

func TestConsumeOldSingleObjectBodies(t *testing.T) {
	cfg := testConfig(t)
	newPublisher(t, cfg) // declares the topology
	admin := adminChannel(t)
	// What a publisher from before multi-job messages sent.
	job := testJobs(1)[0]
	body, err := EncodeJob(job)
	require.NoError(t, err)
	require.NoError(t, admin.Publish("", cfg.JobQueue, false, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent,
		Type: "vigil.job", MessageId: "set-by-an-old-publisher", Body: body,
	}))

	var log deliveryLog
	stop := runConsumer(t, cfg, 1, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		return Ack
	})
	require.Eventually(t, func() bool { return log.len() == 1 }, eventually, 10*time.Millisecond)
	stop()
	requireSameJob(t, job, log.jobs[0])
	require.Equal(t, JobMessageID(job), log.deliveries()[0].MessageID)
	require.Zero(t, log.deliveries()[0].PublishedAt, "an old publisher sent no publish time")
	require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
	require.Equal(t, 0, queueDepth(t, cfg.deadLetterQueue()))
}

func TestConsumeDefaultPrefetch(t *testing.T) {
	// Eight messages of four jobs, each with one job that hangs (a dead
	// target) before three quick ones. A message is held until its slowest
	// job is done, so a prefetch below the concurrency would leave handlers
	// idle with work waiting in the queue; the default takes the
	// concurrency plus an eighth and no more.
	const concurrency, messages, per = 4, 8, 4
	cfg := testConfig(t)
	cfg.JobsPerMessage = per
	pub := newPublisher(t, cfg)
	base := time.Now().Truncate(time.Millisecond)
	var jobs []check.Job
	for m := range messages {
		jobs = append(jobs, testJob(fmt.Sprintf("slow-%d", m), base))
		for j := range per - 1 {
			jobs = append(jobs, testJob(fmt.Sprintf("fast-%d-%d", m, j), base))
		}
	}
	require.NoError(t, pub.PublishJobs(context.Background(), jobs))
	require.Equal(t, messages, queueDepth(t, cfg.JobQueue))

	release, unblock := releaser()
	var slow atomic.Int32
	var done atomic.Int32
	stop := runConsumer(t, cfg, concurrency, func(_ context.Context, job check.Job, _ Delivery) Outcome {
		if strings.HasPrefix(job.CheckID, "slow-") {
			slow.Add(1)
			<-release
		}
		done.Add(1)
		return Ack
	})
	t.Cleanup(unblock) // before stopping, should the test fail early
	require.Eventually(t, func() bool { return slow.Load() == concurrency }, eventually, 5*time.Millisecond,
		"every handler busy, each on a different message's slow job")
	held := jobPrefetch(concurrency)
	require.Eventually(t, func() bool { return queueDepth(t, cfg.JobQueue) == messages-held }, eventually, 10*time.Millisecond)
	require.Never(t, func() bool { return queueDepth(t, cfg.JobQueue) < messages-held }, 300*time.Millisecond, 20*time.Millisecond,
		"no more messages are taken than the prefetch")
	unblock()
	require.Eventually(t, func() bool { return done.Load() == int32(len(jobs)) }, eventually, 10*time.Millisecond)
	stop()
	require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
}

func TestConsumeGracefulStopPartlyStartedMessage(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	first, second := testJobs(5), testJobs(8)[5:]
	require.NoError(t, pub.PublishJobs(context.Background(), first))

	release := make(chan struct{})
	var log deliveryLog
	stop := runConsumer(t, cfg, 2, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		<-release
		return Ack
	})
	require.Eventually(t, func() bool { return log.len() == 2 }, eventually, 5*time.Millisecond)
	// The second message arrives while both slots are busy: held, with
	// none of its jobs started.
	require.NoError(t, pub.PublishJobs(context.Background(), second))
	require.Eventually(t, func() bool { return queueDepth(t, cfg.JobQueue) == 0 }, eventually, 5*time.Millisecond)

	stopped := stopInBackground(stop)
	requireStillStopping(t, stopped)
	require.Equal(t, 2, log.len(), "no job starts after the stop, though two slots are about to free up")
	close(release)
	select {
	case <-stopped:
	case <-time.After(eventually):
		require.Fail(t, "ConsumeJobs did not return after its handlers finished")
	}
	require.Equal(t, 2, log.len())
	for _, j := range log.jobs {
		require.Contains(t, []string{first[0].CheckID, first[1].CheckID}, j.CheckID, "a message's jobs start in its order")
	}

	// The unstarted message is back whole. Of the partly started one only
	// the three jobs that never ran are back, in a message of their own on
	// the same attempt: a stop is no failure, and the finished jobs do not
	// run again.
	back := getAll(t, cfg.JobQueue)
	require.Len(t, back, 2)
	got := map[string][]string{}
	for _, m := range back {
		jobs, err := DecodeJobs(m.Body)
		require.NoError(t, err)
		for _, j := range jobs {
			got[m.MessageId] = append(got[m.MessageId], j.CheckID)
		}
		require.Equal(t, 1, attemptOf(&m), "not counted as a delivery")
		require.False(t, publishedAtOf(&m).IsZero())
		if m.MessageId == jobRunID(first[2:]) {
			require.Equal(t, log.deliveries()[0].PublishedAt, publishedAtOf(&m),
				"jobs that never started keep their publish time: they have waited since")
		}
	}
	ids := func(jobs []check.Job) (out []string) {
		for _, j := range jobs {
			out = append(out, j.CheckID)
		}
		return out
	}
	require.Equal(t, map[string][]string{
		jobRunID(second):    ids(second),
		jobRunID(first[2:]): ids(first[2:]),
	}, got)
	require.Equal(t, 0, queueDepth(t, cfg.deadLetterQueue()))
}

func TestConsumeStopsStartingJobsOfAMessageWhenTheConnectionDrops(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg) // straight to the broker
	proxy := startProxy(t)
	consumerCfg := cfg
	consumerCfg.URL = proxy.url(t)
	logs, lostConnection := observeLogs(t, "job consumer lost its connection, reconnecting")
	consumerCfg.Logger = logs
	jobs := testJobs(3)
	require.NoError(t, pub.PublishJobs(context.Background(), jobs))

	release, unblock := releaser()
	var log deliveryLog
	runConsumer(t, consumerCfg, 1, func(_ context.Context, job check.Job, d Delivery) Outcome {
		if log.add(job, d) == 1 {
			<-release
		}
		return Ack
	})
	t.Cleanup(unblock)
	require.Eventually(t, func() bool { return log.len() == 1 }, eventually, 5*time.Millisecond)
	proxy.Cut()
	// The consumer gives the session up while the first job still holds
	// the only slot: it does not wait to start the rest on a dead channel.
	require.Eventually(t, lostConnection, eventually, 5*time.Millisecond)
	unblock()

	require.Eventually(t, func() bool { return log.len() == 1+len(jobs) }, eventually, 10*time.Millisecond)
	seen := log.deliveries()
	require.False(t, seen[0].Redelivered)
	for i, d := range seen[1:] {
		require.True(t, d.Redelivered, "call %d: only the redelivered message ran the rest", i+2)
	}
	require.Eventually(t, func() bool { return queueDepth(t, cfg.JobQueue) == 0 }, eventually, 20*time.Millisecond)
}

// releaser is a channel that blocked handlers wait on and an idempotent
// func that closes it; registered as a cleanup after the consumer's, it lets
// a failed test's consumer stop instead of waiting on its handlers.
func releaser() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// observeLogs is a test logger that also reports whether msg was logged.
func observeLogs(t *testing.T, msg string) (*zap.Logger, func() bool) {
	t.Helper()
	core, recorded := observer.New(zapcore.InfoLevel)
	logger := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core(), core))
	return logger, func() bool { return recorded.FilterMessage(msg).Len() > 0 }
}
