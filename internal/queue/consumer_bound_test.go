package queue

import (
	"context"
	"math"
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

// Tests of the bound on deliveries: a job that keeps failing ends up in the
// dead-letter queue, alone, after Config.MaxDeliveries deliveries.

func TestConsumeDeadLettersAPoisonJobAfterMaxDeliveries(t *testing.T) {
	const maxDeliveries = 3
	cfg := testConfig(t)
	cfg.MaxDeliveries = maxDeliveries
	core, logs := observer.New(zapcore.WarnLevel)
	cfg.Logger = zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core(), core))
	reasons := make(chan string, 10)
	cfg.OnDeadLetter = func(reason string) { reasons <- reason }
	pub := newPublisher(t, cfg)
	jobs := testJobs(5)
	poison := jobs[2]
	require.NoError(t, pub.PublishJobs(context.Background(), jobs))
	require.Equal(t, 1, queueDepth(t, cfg.JobQueue), "the poison job shares its message with four healthy ones")

	var log deliveryLog
	stop := runConsumer(t, cfg, 2, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		if job.CheckID == poison.CheckID {
			return Requeue // say its result can never be stored
		}
		return Ack
	})
	require.Eventually(t, func() bool { return queueDepth(t, cfg.deadLetterQueue()) == 1 }, eventually, 20*time.Millisecond)
	require.Never(t, func() bool { return log.len() > len(jobs)-1+maxDeliveries }, 300*time.Millisecond, 20*time.Millisecond,
		"nothing runs after the poison job is dead-lettered")
	stop()

	runs := map[string][]int{}
	for i, d := range log.deliveries() {
		runs[log.jobs[i].CheckID] = append(runs[log.jobs[i].CheckID], d.Attempt)
	}
	for _, j := range jobs {
		if j.CheckID == poison.CheckID {
			require.Equal(t, []int{1, 2, 3}, runs[j.CheckID], "the poison job runs MaxDeliveries times")
		} else {
			require.Equal(t, []int{1}, runs[j.CheckID], "healthy job %s runs once, not once per retry of its neighbour", j.CheckID)
		}
	}
	require.Equal(t, 0, queueDepth(t, cfg.JobQueue))
	dead := getAll(t, cfg.deadLetterQueue())
	require.Len(t, dead, 1)
	got, err := DecodeJobs(dead[0].Body)
	require.NoError(t, err)
	require.Len(t, got, 1, "only the poison job is dead-lettered")
	requireSameJob(t, poison, got[0])
	require.Equal(t, JobMessageID(poison), dead[0].MessageId)
	require.Equal(t, DeadLetterMaxDeliveries, dead[0].Headers[deadReasonHeader])
	require.EqualValues(t, maxDeliveries, dead[0].Headers[deliveriesHeader])
	require.Equal(t, DeadLetterMaxDeliveries, <-reasons)
	require.Empty(t, reasons, "one dead-lettered message, counted once")

	lines := logs.FilterMessage("job failed on its last allowed delivery, dead-lettered it").All()
	require.Len(t, lines, 1)
	require.Equal(t, zapcore.ErrorLevel, lines[0].Level)
	fields := lines[0].ContextMap()
	require.Equal(t, poison.Service, fields["service"])
	require.Equal(t, poison.CheckID, fields["check_id"])
	require.EqualValues(t, maxDeliveries, fields["attempt"])
}

func TestConsumeCountsAttemptsOfAMessageWithoutTheHeader(t *testing.T) {
	// A message published before attempts were counted, failing for ever:
	// it is on its first attempt, and dead-lettered after MaxDeliveries
	// like any other.
	cfg := testConfig(t)
	cfg.MaxDeliveries = 2
	newPublisher(t, cfg) // declares the topology
	jobs := testJobs(2)
	body, err := EncodeJobs(jobs)
	require.NoError(t, err)
	require.NoError(t, adminChannel(t).Publish("", cfg.JobQueue, false, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent, Type: "vigil.jobs", Body: body,
	}))

	var log deliveryLog
	stop := runConsumer(t, cfg, 1, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		return Requeue
	})
	require.Eventually(t, func() bool { return queueDepth(t, cfg.deadLetterQueue()) == 1 }, eventually, 20*time.Millisecond)
	stop()
	var attempts []int
	for _, d := range log.deliveries() {
		attempts = append(attempts, d.Attempt)
	}
	require.Equal(t, []int{1, 1, 2, 2}, attempts)
	dead := getAll(t, cfg.deadLetterQueue())
	require.Len(t, dead, 1)
	got, err := DecodeJobs(dead[0].Body)
	require.NoError(t, err)
	require.Len(t, got, 2, "both jobs reached the bound together and share a dead message")
}

func TestConsumeRepublishKeepsFieldsItDoesNotKnow(t *testing.T) {
	// A newer scheduler may add job fields; a worker that publishes a job
	// again must pass them on, not drop them.
	cfg := testConfig(t)
	newPublisher(t, cfg)
	body := []byte(`[{"check_id":"c1","type":"http","url":"http://127.0.0.1:1/","timeout_ns":1000000,` +
		`"scheduled_at":"2026-01-01T00:00:00Z","from_the_future":{"x":1}},` +
		`{"check_id":"c2","type":"http","url":"http://127.0.0.1:1/","timeout_ns":1000000,"scheduled_at":"2026-01-01T00:00:00Z"}]`)
	require.NoError(t, adminChannel(t).Publish("", cfg.JobQueue, false, false, amqp.Publishing{Body: body}))

	var calls atomic.Int32
	stop := runConsumer(t, cfg, 1, func(_ context.Context, job check.Job, d Delivery) Outcome {
		calls.Add(1)
		if job.CheckID == "c1" && d.Attempt == 1 {
			return Requeue
		}
		return DeadLetter // park it where the test can read it
	})
	require.Eventually(t, func() bool { return queueDepth(t, cfg.deadLetterQueue()) == 2 }, eventually, 20*time.Millisecond)
	stop()
	dead := getAll(t, cfg.deadLetterQueue())
	require.Len(t, dead, 2)
	var again amqp.Delivery
	for _, d := range dead {
		if d.MessageId == "c1/1767225600000" {
			again = d
		}
	}
	require.Equal(t, `{"check_id":"c1","type":"http","url":"http://127.0.0.1:1/","timeout_ns":1000000,`+
		`"scheduled_at":"2026-01-01T00:00:00Z","from_the_future":{"x":1}}`, string(again.Body))
	require.Equal(t, typeJob, again.Type)
}

func TestRequeueDelayDoubles(t *testing.T) {
	cfg := Config{RequeueDelay: time.Second}
	var got []time.Duration
	for attempt := 1; attempt <= 7; attempt++ {
		got = append(got, cfg.requeueDelay(attempt))
	}
	require.Equal(t, []time.Duration{
		time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second,
	}, got)
	var total time.Duration
	for attempt := 1; attempt < DefaultMaxDeliveries; attempt++ {
		total += Config{RequeueDelay: DefaultRequeueDelay}.requeueDelay(attempt)
	}
	require.GreaterOrEqual(t, total, 30*time.Second, "the default retries outlast the scheduler's default catch-up window")
	require.Equal(t, time.Minute, Config{RequeueDelay: time.Minute}.requeueDelay(3), "a delay above the cap is kept, not doubled")
	require.Zero(t, Config{}.requeueDelay(4))
}

func TestAttemptOf(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want int
	}{
		{nil, 1}, {"3", 1}, {int32(0), 1}, {int32(-5), 1}, {int32(4), 4}, {int64(7), 7}, {int8(2), 2}, {int64(1 << 40), 1 << 20},
	} {
		d := amqp.Delivery{Headers: amqp.Table{}}
		if tt.v != nil {
			d.Headers[attemptHeader] = tt.v
		}
		require.Equal(t, tt.want, attemptOf(&d), "%#v", tt.v)
	}
}

// A publish time is read only from an integer header a clock could have
// written: anything else is no time at all, so the worker does not shed
// by it.
func TestPublishedAtOf(t *testing.T) {
	const ms = int64(1795723200123)
	for _, tt := range []struct {
		v    any
		want time.Time
	}{
		{nil, time.Time{}}, {"1795723200123", time.Time{}}, {int64(0), time.Time{}}, {int64(-1), time.Time{}},
		{int64(maxPublishedAtMillis + 1), time.Time{}}, {int64(math.MaxInt64), time.Time{}},
		{ms, time.UnixMilli(ms)}, {int64(maxPublishedAtMillis), time.UnixMilli(maxPublishedAtMillis)},
		{int32(5), time.UnixMilli(5)},
	} {
		d := amqp.Delivery{Headers: amqp.Table{}}
		if tt.v != nil {
			d.Headers[publishedAtHeader] = tt.v
		}
		require.True(t, tt.want.Equal(publishedAtOf(&d)), "%#v: got %s", tt.v, publishedAtOf(&d))
	}
}
