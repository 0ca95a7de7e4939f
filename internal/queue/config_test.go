package queue

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{URL: "amqp://guest:guest@127.0.0.1:5672/"}.withDefaults()
	require.NoError(t, err)
	require.Equal(t, DefaultJobQueue, cfg.JobQueue)
	require.Equal(t, DefaultTransitions, cfg.Transitions)
	require.Equal(t, "vigil.jobs.dlx", cfg.deadLetterExchange())
	require.Equal(t, "vigil.jobs.dead", cfg.deadLetterQueue())
	require.Equal(t, DefaultReconnectMin, cfg.ReconnectMin)
	require.Equal(t, DefaultReconnectMax, cfg.ReconnectMax)
	require.Equal(t, DefaultRequeueDelay, cfg.RequeueDelay)
	require.Equal(t, DefaultShutdownGrace, cfg.ShutdownGrace)
	require.Equal(t, DefaultDialTimeout, cfg.DialTimeout)
	require.Equal(t, DefaultJobsPerMessage, cfg.JobsPerMessage)
	require.Equal(t, DefaultMaxDeliveries, cfg.MaxDeliveries)
	require.Equal(t, DefaultMaxMessageBytes, cfg.MaxMessageBytes)
	require.Equal(t, DefaultStatusQueueLength, cfg.StatusQueueLength)
	require.NotNil(t, cfg.Logger)

	cfg, err = Config{URL: "amqp://h/", RequeueDelay: -1, ReconnectMin: time.Second, ReconnectMax: time.Millisecond}.withDefaults()
	require.NoError(t, err)
	require.Zero(t, cfg.RequeueDelay, "a negative delay switches the delay off")
	require.Equal(t, time.Second, cfg.ReconnectMax, "max is never below min")
}

func TestConfigRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no url", cfg: Config{}, want: "URL is required"},
		{name: "wrong scheme", cfg: Config{URL: "http://secret@127.0.0.1/"}, want: "not a valid"},
		{name: "negative prefetch", cfg: Config{URL: "amqp://127.0.0.1/", Prefetch: -1}, want: "Prefetch"},
		{name: "negative jobs per message", cfg: Config{URL: "amqp://127.0.0.1/", JobsPerMessage: -1}, want: "JobsPerMessage"},
		{name: "too many jobs per message", cfg: Config{URL: "amqp://127.0.0.1/", JobsPerMessage: MaxJobsPerMessage + 1}, want: "JobsPerMessage"},
		{name: "negative message bytes", cfg: Config{URL: "amqp://127.0.0.1/", MaxMessageBytes: -1}, want: "MaxMessageBytes"},
		{name: "negative deliveries", cfg: Config{URL: "amqp://127.0.0.1/", MaxDeliveries: -1}, want: "MaxDeliveries"},
		{name: "negative status queue length", cfg: Config{URL: "amqp://127.0.0.1/", StatusQueueLength: -1}, want: "StatusQueueLength"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.withDefaults()
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "secret", "errors must not echo credentials")
		})
	}
}

func TestConfigKeepsJobsPerMessage(t *testing.T) {
	for _, n := range []int{1, 7, MaxJobsPerMessage} {
		cfg, err := Config{URL: "amqp://h/", JobsPerMessage: n}.withDefaults()
		require.NoError(t, err)
		require.Equal(t, n, cfg.JobsPerMessage)
	}
}

func TestJobPrefetch(t *testing.T) {
	// At least the concurrency, so messages held back by one slow job each
	// cannot starve the pool, plus an eighth (rounded up) in transit.
	for concurrency, want := range map[int]int{1: 2, 2: 3, 8: 9, 9: 11, 64: 72, 100: 113} {
		require.Equal(t, want, jobPrefetch(concurrency), "concurrency %d", concurrency)
	}
}

func TestOutcomeString(t *testing.T) {
	require.Equal(t, "ack", Ack.String())
	require.Equal(t, "requeue", Requeue.String())
	require.Equal(t, "dead-letter", DeadLetter.String())
	require.Equal(t, "outcome(7)", Outcome(7).String())
}
