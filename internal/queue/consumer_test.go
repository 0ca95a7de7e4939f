package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// deliveryLog records what a handler saw, safely across goroutines.
type deliveryLog struct {
	mu   sync.Mutex
	seen []Delivery
	jobs []check.Job
}

func (l *deliveryLog) add(job check.Job, d Delivery) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, d)
	l.jobs = append(l.jobs, job)
	return len(l.seen)
}

func (l *deliveryLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func (l *deliveryLog) deliveries() []Delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Delivery(nil), l.seen...)
}

func TestConsumeOutcomes(t *testing.T) {
	tests := []struct {
		name string
		// first is the outcome for the first delivery; later ones ack.
		first       func()
		outcome     Outcome
		wantCalls   int
		wantDead    int
		wantRedeliv bool
	}{
		{name: "requeue redelivers", outcome: Requeue, wantCalls: 2, wantRedeliv: true},
		{name: "unknown outcome requeues", outcome: Outcome(99), wantCalls: 2, wantRedeliv: true},
		{name: "panic requeues", first: func() { panic("probe exploded") }, wantCalls: 2, wantRedeliv: true},
		{name: "dead letter", outcome: DeadLetter, wantCalls: 1, wantDead: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			pub := newPublisher(t, cfg)
			job := testJobs(1)[0]
			require.NoError(t, pub.PublishJobs(context.Background(), []check.Job{job}))

			var log deliveryLog
			stop := runConsumer(t, cfg, 1, func(_ context.Context, got check.Job, d Delivery) Outcome {
				if log.add(got, d) == 1 {
					if tt.first != nil {
						tt.first()
					}
					return tt.outcome
				}
				return Ack
			})
			require.Eventually(t, func() bool { return log.len() >= tt.wantCalls }, eventually, 10*time.Millisecond)
			if tt.wantDead > 0 {
				require.Eventually(t, func() bool { return queueDepth(t, cfg.deadLetterQueue()) == tt.wantDead },
					eventually, 20*time.Millisecond)
			}
			stop()

			seen := log.deliveries()
			require.Len(t, seen, tt.wantCalls, "the process survived and nothing looped")
			require.False(t, seen[0].Redelivered)
			require.Equal(t, JobMessageID(job), seen[0].MessageID)
			if tt.wantRedeliv {
				require.True(t, seen[1].Redelivered)
			}
			require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
			require.Equal(t, tt.wantDead, queueDepth(t, cfg.deadLetterQueue()))
		})
	}
}

func TestConsumeDeadLettersMalformedOnce(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg) // declares the topology
	admin := adminChannel(t)
	bodies := [][]byte{
		[]byte(`not json`),
		[]byte(`{"check_id":"","type":"http","url":"http://x","timeout_ns":1,"scheduled_at":"2026-01-01T00:00:00Z"}`),
		[]byte(`{"check_id":"c1","type":"http","url":"http://x","timeout_ns":0,"scheduled_at":"2026-01-01T00:00:00Z"}`),
		[]byte(`[]`),
		// A valid job in a message with an invalid one is not run either:
		// the message can only be settled as a whole.
		[]byte(`[{"check_id":"in-bad-batch","type":"http","url":"http://x","timeout_ns":1,"scheduled_at":"2026-01-01T00:00:00Z"},` +
			`{"check_id":"c2","type":"http","url":"","timeout_ns":1,"scheduled_at":"2026-01-01T00:00:00Z"}]`),
	}
	for _, b := range bodies {
		require.NoError(t, admin.Publish("", cfg.JobQueue, false, false, amqp.Publishing{Body: b}))
	}
	// A valid job behind them: once it is handled, the bad ones were dealt
	// with (one handler, queue order).
	good := testJobs(1)
	require.NoError(t, pub.PublishJobs(context.Background(), good))

	var (
		log  deliveryLog
		dlqd atomic.Int32
	)
	cfg.OnDeadLetter = func(reason string) {
		require.Equal(t, DeadLetterMalformed, reason)
		dlqd.Add(1)
	}
	stop := runConsumer(t, cfg, 1, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		return Ack
	})
	require.Eventually(t, func() bool { return log.len() == 1 }, eventually, 10*time.Millisecond)
	require.Eventually(t, func() bool { return queueDepth(t, cfg.deadLetterQueue()) == len(bodies) },
		eventually, 20*time.Millisecond)
	stop()
	require.EqualValues(t, len(bodies), dlqd.Load(), "the dead-letter hook sees each one")

	require.Len(t, log.jobs, 1, "the handler never sees a malformed body")
	require.Equal(t, good[0].CheckID, log.jobs[0].CheckID)
	require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
	dead := getAll(t, cfg.deadLetterQueue())
	require.Len(t, dead, len(bodies), "each malformed body is dead-lettered exactly once")
	for i, d := range dead {
		require.Equal(t, bodies[i], d.Body)
	}
}

func TestConsumeConcurrencyBound(t *testing.T) {
	const concurrency, n = 3, 24
	// The bound counts jobs, whether they come one per message or all in
	// one message.
	for _, per := range []int{1, n} {
		t.Run(fmt.Sprintf("%d per message", per), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.JobsPerMessage = per
			pub := newPublisher(t, cfg)
			require.NoError(t, pub.PublishJobs(context.Background(), testJobs(n)))
			require.Equal(t, n/per, queueDepth(t, cfg.JobQueue))

			var running, done atomic.Int32
			var peak peakCounter
			stop := runConsumer(t, cfg, concurrency, func(context.Context, check.Job, Delivery) Outcome {
				peak.observe(running.Add(1))
				time.Sleep(20 * time.Millisecond)
				running.Add(-1)
				done.Add(1)
				return Ack
			})
			require.Eventually(t, func() bool { return done.Load() == n }, eventually, 10*time.Millisecond)
			stop()
			require.LessOrEqual(t, peak.load(), int32(concurrency), "never more handlers than the concurrency")
			require.Equal(t, int32(concurrency), peak.load(), "handlers do run in parallel")
			require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
		})
	}
}

// peakCounter keeps the highest value it observed.
type peakCounter struct{ v atomic.Int32 }

func (p *peakCounter) observe(now int32) {
	for {
		old := p.v.Load()
		if now <= old || p.v.CompareAndSwap(old, now) {
			return
		}
	}
}

func (p *peakCounter) load() int32 { return p.v.Load() }

func TestConsumeGracefulStop(t *testing.T) {
	cfg := testConfig(t)
	cfg.Prefetch = 4
	cfg.JobsPerMessage = 1 // prefetched messages none of whose jobs started
	pub := newPublisher(t, cfg)
	jobs := testJobs(6)
	require.NoError(t, pub.PublishJobs(context.Background(), jobs))

	release := make(chan struct{})
	var log deliveryLog
	var handlerCtxErr atomic.Value
	stop := runConsumer(t, cfg, 2, func(ctx context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		<-release
		if ctx.Err() != nil {
			handlerCtxErr.Store(ctx.Err())
		}
		return Ack
	})
	require.Eventually(t, func() bool { return log.len() == 2 }, eventually, 5*time.Millisecond)

	// The consumer must wait for its two in-flight handlers.
	stopped := stopInBackground(stop)
	requireStillStopping(t, stopped)
	close(release)
	select {
	case <-stopped:
	case <-time.After(eventually):
		require.Fail(t, "ConsumeJobs did not return after its handlers finished")
	}
	require.Nil(t, handlerCtxErr.Load(), "in-flight handlers keep a live context during the grace period")
	require.Equal(t, 2, log.len(), "no new handler starts after the stop")

	handled := map[string]bool{}
	for _, d := range log.deliveries() {
		handled[d.MessageID] = true
	}
	rest := getAll(t, cfg.JobQueue)
	require.Len(t, rest, len(jobs)-2, "prefetched but unstarted jobs are back in the queue")
	for _, d := range rest {
		require.False(t, handled[d.MessageId], "an in-flight job was acked, not redelivered")
	}
}

func TestConsumeShutdownGraceCancelsHandlers(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShutdownGrace = 50 * time.Millisecond
	pub := newPublisher(t, cfg)
	require.NoError(t, pub.PublishJobs(context.Background(), testJobs(1)))

	started := make(chan struct{})
	stop := runConsumer(t, cfg, 1, func(ctx context.Context, _ check.Job, _ Delivery) Outcome {
		close(started)
		<-ctx.Done() // a handler that only stops when told to
		return Requeue
	})
	<-started
	stop() // returns only because the grace period cancelled the handler
	require.Equal(t, 1, queueDepth(t, cfg.JobQueue), "the cancelled job was requeued")
}

func TestConsumeJobsRejectsBadArguments(t *testing.T) {
	ack := func(context.Context, check.Job, Delivery) Outcome { return Ack }
	tests := []struct {
		name        string
		cfg         Config
		concurrency int
		h           JobHandler
	}{
		{name: "no url", cfg: Config{}, concurrency: 1, h: ack},
		{name: "zero concurrency", cfg: Config{URL: amqpURL()}, concurrency: 0, h: ack},
		{name: "nil handler", cfg: Config{URL: amqpURL()}, concurrency: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, ConsumeJobs(context.Background(), tt.cfg, tt.concurrency, tt.h))
		})
	}
	require.Error(t, SubscribeTransitions(context.Background(), Config{URL: amqpURL()}, "", nil))
	require.Error(t, SubscribeTransitions(context.Background(), Config{}, "", func(context.Context, check.Transition) error { return nil }))
}

func TestConsumeJobsStopsWhileBrokerUnreachable(t *testing.T) {
	cfg := testConfig(t)
	cfg.URL = closedPortURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Retrying forever in the background, yet it returns once told to.
	require.NoError(t, ConsumeJobs(ctx, cfg, 1, func(context.Context, check.Job, Delivery) Outcome { return Ack }))
	require.NoError(t, SubscribeTransitions(ctx, cfg, "", func(context.Context, check.Transition) error { return nil }))
}
