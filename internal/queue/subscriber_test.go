package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// transitionLog counts the transitions a subscriber saw, per check id.
type transitionLog struct {
	mu    sync.Mutex
	count map[string]int
	order []string
}

func newTransitionLog() *transitionLog { return &transitionLog{count: map[string]int{}} }

func (l *transitionLog) add(t check.Transition) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count[t.CheckID]++
	l.order = append(l.order, t.CheckID)
	return l.count[t.CheckID]
}

func (l *transitionLog) seen(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[id]
}

func (l *transitionLog) handler(_ context.Context, t check.Transition) error {
	l.add(t)
	return nil
}

// barrier publishes a fresh marker until every log has seen it. Each queue
// is FIFO and handled in order, so whatever was published before the first
// marker has been handled by then. Republishing covers subscribers that are
// still (re)binding: subscriptions expose no "ready" signal, and the broker
// drops what reaches no queue. The first barrier of a test therefore also
// proves every subscriber is bound.
func barrier(t *testing.T, pub *Publisher, logs ...*transitionLog) {
	t.Helper()
	id := fmt.Sprintf("barrier-%d", time.Now().UnixNano())
	require.Eventually(t, func() bool {
		require.NoError(t, pub.PublishTransitions(context.Background(), []check.Transition{testTransition(id, 1)}))
		for _, l := range logs {
			if l.seen(id) == 0 {
				return false
			}
		}
		return true
	}, eventually, 50*time.Millisecond)
}

func TestSubscribeExclusiveEveryReplicaGetsEverything(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	a, b := newTransitionLog(), newTransitionLog()
	runSubscriber(t, cfg, "", a.handler)
	runSubscriber(t, cfg, "", b.handler)
	barrier(t, pub, a, b)

	const n = 25
	var ts []check.Transition
	for i := range n {
		ts = append(ts, testTransition(fmt.Sprintf("c%02d", i), int64(i+100)))
	}
	require.NoError(t, pub.PublishTransitions(context.Background(), ts[:10]))
	require.NoError(t, pub.PublishTransitions(context.Background(), ts[10:]))
	barrier(t, pub, a, b)

	for _, l := range []*transitionLog{a, b} {
		for _, tr := range ts {
			require.Equal(t, 1, l.seen(tr.CheckID), "every subscriber sees %s exactly once", tr.CheckID)
		}
		// Published in order, handled in order.
		var got []string
		l.mu.Lock()
		for _, id := range l.order {
			if strings.HasPrefix(id, "c") {
				got = append(got, id)
			}
		}
		l.mu.Unlock()
		want := make([]string, n)
		for i, tr := range ts {
			want[i] = tr.CheckID
		}
		require.Equal(t, want, got)
	}
}

func TestSubscribeReceivesDecodedTransition(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	var mu sync.Mutex
	var got []check.Transition
	runSubscriber(t, cfg, "", func(_ context.Context, tr check.Transition) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, tr)
		return nil
	})
	want := testTransition("payments", 42)
	require.Eventually(t, func() bool {
		require.NoError(t, pub.PublishTransitions(context.Background(), []check.Transition{want}))
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	}, eventually, 50*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, want, got[0])
}

func TestSubscribeHandlerErrors(t *testing.T) {
	tests := []struct {
		name      string
		queueName bool
		fail      func() error
		wantCalls int
	}{
		{name: "durable requeues", queueName: true, fail: func() error { return errors.New("api server down") }, wantCalls: 2},
		{name: "durable requeues after panic", queueName: true, fail: func() error { panic("boom") }, wantCalls: 2},
		{name: "exclusive drops", fail: func() error { return errors.New("client gone") }, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			pub := newPublisher(t, cfg)
			queueName := ""
			if tt.queueName {
				queueName = cfg.Transitions + ".status"
				admin := adminChannel(t)
				t.Cleanup(func() { _, _ = admin.QueueDelete(queueName, false, false, false) })
			}
			l := newTransitionLog()
			runSubscriber(t, cfg, queueName, func(_ context.Context, tr check.Transition) error {
				if l.add(tr) == 1 && tr.CheckID == "flaky" {
					return tt.fail()
				}
				return nil
			})
			barrier(t, pub, l)
			require.NoError(t, pub.PublishTransitions(context.Background(), []check.Transition{testTransition("flaky", 7)}))
			require.Eventually(t, func() bool { return l.seen("flaky") >= tt.wantCalls }, eventually, 10*time.Millisecond)
			barrier(t, pub, l)
			require.Equal(t, tt.wantCalls, l.seen("flaky"))
		})
	}
}

func TestSubscribeDropsMalformed(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	queueName := cfg.Transitions + ".status"
	admin := adminChannel(t)
	t.Cleanup(func() { _, _ = admin.QueueDelete(queueName, false, false, false) })
	l := newTransitionLog()
	stop := runSubscriber(t, cfg, queueName, l.handler)
	barrier(t, pub, l)

	require.NoError(t, admin.Publish(cfg.Transitions, "", false, false, amqp.Publishing{Body: []byte(`{"check_id":`)}))
	barrier(t, pub, l)
	// The admin channel and the publisher are separate connections, so the
	// barrier may overtake the malformed message: wait for it to be taken.
	require.Eventually(t, func() bool { return queueDepth(t, queueName) == 0 }, eventually, 10*time.Millisecond)
	stop() // whatever was left unacked goes back to the durable queue
	require.Equal(t, 0, queueDepth(t, queueName), "a malformed transition is dropped, never redelivered")
}
