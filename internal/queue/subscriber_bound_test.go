package queue

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
)

// publishNumbered publishes transitions with ids from..to, one at a time so
// that the queue holds them in order.
func publishNumbered(t *testing.T, pub *Publisher, from, to int64) {
	t.Helper()
	for id := from; id <= to; id++ {
		require.NoError(t, pub.PublishTransitions(context.Background(), []check.Transition{testTransition("c", id)}))
	}
}

func TestSubscribeDurableQueueIsBounded(t *testing.T) {
	cfg := testConfig(t)
	cfg.StatusQueueLength = 3
	pub := newPublisher(t, cfg)
	queueName := cfg.Transitions + ".status"
	admin := adminChannel(t)
	t.Cleanup(func() { _, _ = admin.QueueDelete(queueName, false, false, false) })
	l := newTransitionLog()
	stop := runSubscriber(t, cfg, queueName, l.handler)
	barrier(t, pub, l)
	stop() // the queue stays, and nobody consumes it: an operator gone for good

	publishNumbered(t, pub, 1, 5)
	require.Eventually(t, func() bool { return queueDepth(t, queueName) == 3 }, eventually, 10*time.Millisecond)
	var ids []int64
	for _, d := range getAll(t, queueName) {
		tr, err := DecodeTransition(d.Body)
		require.NoError(t, err)
		ids = append(ids, tr.ID)
	}
	require.Equal(t, []int64{3, 4, 5}, ids, "the oldest are dropped, the newest kept")
}

func TestSubscribeKeepsADurableQueueDeclaredWithoutBounds(t *testing.T) {
	// What every install from before the bounds has: the queue, durable,
	// without arguments. Redeclaring it with others is refused with 406,
	// which must not stop the subscriber.
	cfg := testConfig(t)
	cfg.StatusQueueLength = 3
	core, logs := observer.New(zapcore.WarnLevel)
	cfg.Logger = zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core(), core))
	pub := newPublisher(t, cfg)
	queueName := cfg.Transitions + ".status"
	admin := adminChannel(t)
	t.Cleanup(func() { _, _ = admin.QueueDelete(queueName, false, false, false) })
	_, err := admin.QueueDeclare(queueName, true, false, false, false, nil)
	require.NoError(t, err)
	require.NoError(t, admin.QueueBind(queueName, "", cfg.Transitions, false, nil))
	publishNumbered(t, pub, 1, 2) // waiting from before the upgrade

	l := newTransitionLog()
	stop := runSubscriber(t, cfg, queueName, l.handler)
	barrier(t, pub, l)
	require.Equal(t, 2, l.seen("c"), "what waited in the old queue is delivered")
	stop()

	warned := logs.FilterMessage("durable transitions queue exists with other arguments and is not bounded by Vigil; bound it with a policy").All()
	require.NotEmpty(t, warned)
	require.Contains(t, warned[0].ContextMap()["remedy"], `"max-length":3`)
	require.Zero(t, logs.FilterMessage("transition subscriber lost its connection, reconnecting").Len(),
		"the refused declaration did not take the session down")

	// A message the subscriber had in hand when it stopped may be back in
	// the queue (its ack raced the close), so count from what is there.
	base := queueDepth(t, queueName)
	publishNumbered(t, pub, 3, 7)
	var depth int
	require.Eventually(t, func() bool {
		depth = queueDepth(t, queueName)
		return depth >= base+5
	}, eventually, 10*time.Millisecond,
		"the old queue is kept as it is, unbounded, rather than deleted with what it holds (%d before)", base)
	require.Equal(t, base+5, depth)
}
