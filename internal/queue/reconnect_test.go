package queue

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// publishEventually retries PublishJobs the way the scheduler does: each
// attempt bounded, the whole batch again after a failure.
func publishEventually(t *testing.T, pub *Publisher, jobs []check.Job) {
	t.Helper()
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return pub.PublishJobs(ctx, jobs) == nil
	}, eventually, 20*time.Millisecond)
}

func TestReconnectAfterConnectionsAreCut(t *testing.T) {
	cfg := testConfig(t)
	proxy := startProxy(t)
	cfg.URL = proxy.url(t)
	pub := newPublisher(t, cfg)

	var log deliveryLog
	runConsumer(t, cfg, 2, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		return Ack
	})
	require.NoError(t, pub.PublishJobs(context.Background(), testJobs(1)))
	require.Eventually(t, func() bool { return log.len() == 1 }, eventually, 10*time.Millisecond)
	require.EqualValues(t, 1, pub.Sessions(), "the first session counts")

	for round := 1; round <= 3; round++ {
		proxy.Cut()
		require.Eventually(t, func() bool { return pub.Healthy() != nil }, eventually, time.Millisecond,
			"the publisher notices the cut")
		jobs := []check.Job{testJob(fmt.Sprintf("after-cut-%d", round), time.Now())}
		publishEventually(t, pub, jobs)
		require.NoError(t, pub.Healthy())
		require.EqualValues(t, 1+round, pub.Sessions(), "each reconnect counts: the scheduler catches up after one")
		require.Eventually(t, func() bool { return log.len() >= 1+round }, eventually, 10*time.Millisecond,
			"the consumer reconnected by itself (round %d)", round)
	}
}

func TestReconnectAfterOutage(t *testing.T) {
	cfg := testConfig(t)
	proxy := startProxy(t)
	cfg.URL = proxy.url(t)
	pub := newPublisher(t, cfg)
	var log deliveryLog
	runConsumer(t, cfg, 1, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		return Ack
	})
	require.Eventually(t, func() bool { return proxy.active() == 2 }, eventually, 10*time.Millisecond)

	proxy.SetDown(true)
	require.Eventually(t, func() bool { return pub.Healthy() != nil }, eventually, time.Millisecond)
	require.ErrorIs(t, pub.Healthy(), ErrNotConnected)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := pub.PublishJobs(ctx, testJobs(1))
	cancel()
	require.ErrorIs(t, err, ErrNotConnected, "while the broker is away publishing fails, bounded by ctx")
	// Let both sides go through a few failed attempts, so backoff is used.
	time.Sleep(300 * time.Millisecond)

	proxy.SetDown(false)
	publishEventually(t, pub, testJobs(1))
	require.Eventually(t, func() bool { return log.len() == 1 }, eventually, 10*time.Millisecond)
}

func TestPublishFailsWhenCutBeforeConfirm(t *testing.T) {
	cfg := testConfig(t)
	cfg.JobsPerMessage = 1 // many messages in flight, counted in the queue
	proxy := startProxy(t)
	cfg.URL = proxy.url(t)
	pub := newPublisher(t, cfg)

	// The broker gets the batch but its confirms never make it back.
	proxy.Stall(true)
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventually)
		defer cancel()
		errc <- pub.PublishJobs(ctx, testJobs(200))
	}()
	require.Eventually(t, func() bool { return queueDepth(t, cfg.JobQueue) == 200 }, eventually, 10*time.Millisecond)
	proxy.Cut()

	err := <-errc
	require.ErrorIs(t, err, ErrConnectionLost, "a cut is reported as soon as it happens, not waited out")
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	publishEventually(t, pub, testJobs(1))
}

func TestPublishGivesUpWaitingForConfirms(t *testing.T) {
	cfg := testConfig(t)
	cfg.JobsPerMessage = 1 // many messages in flight, counted in the queue
	proxy := startProxy(t)
	cfg.URL = proxy.url(t)
	pub := newPublisher(t, cfg)

	proxy.Stall(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := pub.PublishJobs(ctx, testJobs(50))
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "waiting for confirms is bounded by ctx")
	proxy.Stall(false)

	// The connection is fine; once the late confirms are in, the next batch
	// goes through on the same connection.
	require.NoError(t, pub.PublishJobs(context.Background(), testJobs(1)))
	require.NoError(t, pub.Healthy())
	require.Equal(t, 51, queueDepth(t, cfg.JobQueue))
}

func TestSubscribeDurableSurvivesReconnect(t *testing.T) {
	cfg := testConfig(t)
	direct := newPublisher(t, cfg) // publishes around the proxy
	proxy := startProxy(t)
	subCfg := cfg
	subCfg.URL = proxy.url(t)
	queueName := cfg.Transitions + ".status"
	admin := adminChannel(t)
	t.Cleanup(func() { _, _ = admin.QueueDelete(queueName, false, false, false) })

	durable, exclusive := newTransitionLog(), newTransitionLog()
	var subscribed atomic.Int32
	exclusiveCfg := subCfg
	exclusiveCfg.OnSubscribed = func() { subscribed.Add(1) }
	runSubscriber(t, subCfg, queueName, durable.handler)
	runSubscriber(t, exclusiveCfg, "", exclusive.handler)
	barrier(t, direct, durable, exclusive)

	proxy.SetDown(true)
	require.Eventually(t, func() bool { return proxy.active() == 0 }, eventually, 10*time.Millisecond)
	var ts []check.Transition
	for i := range 5 {
		ts = append(ts, testTransition(fmt.Sprintf("while-away-%d", i), int64(i+1)))
	}
	require.NoError(t, direct.PublishTransitions(context.Background(), ts))
	// Barrier copies that were unacked at the cut are back in the queue
	// too, so the depth is at least, not exactly, what was published.
	require.Eventually(t, func() bool { return queueDepth(t, queueName) >= len(ts) }, eventually, 10*time.Millisecond,
		"the durable queue keeps them")

	proxy.SetDown(false)
	barrier(t, direct, durable, exclusive) // both are bound again
	for _, tr := range ts {
		require.Equal(t, 1, durable.seen(tr.CheckID), "durable subscriber gets %s after reconnecting", tr.CheckID)
		require.Equal(t, 0, exclusive.seen(tr.CheckID), "exclusive subscriber misses what came while away")
	}
	require.EqualValues(t, 2, subscribed.Load(), "told once per binding, so it can catch up from the log")
}

func TestPublisherRecoversFromDeletedExchange(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	admin := adminChannel(t)
	require.NoError(t, admin.ExchangeDelete(cfg.Transitions, false, false))

	// The broker closes the channel (404); the publisher reports it and
	// redeclares the exchange on its next connection.
	err := pub.PublishTransitions(context.Background(), []check.Transition{testTransition("c1", 1)})
	require.ErrorIs(t, err, ErrConnectionLost)
	require.Eventually(t, func() bool {
		return pub.PublishTransitions(context.Background(), []check.Transition{testTransition("c1", 2)}) == nil
	}, eventually, 20*time.Millisecond)
}

func TestConsumerRecoversFromDeletedQueue(t *testing.T) {
	cfg := testConfig(t)
	pub := newPublisher(t, cfg)
	var log deliveryLog
	runConsumer(t, cfg, 1, func(_ context.Context, job check.Job, d Delivery) Outcome {
		log.add(job, d)
		return Ack
	})
	require.NoError(t, pub.PublishJobs(context.Background(), testJobs(1)))
	require.Eventually(t, func() bool { return log.len() == 1 }, eventually, 10*time.Millisecond)

	// The broker cancels the consumer; it must come back on a queue it
	// declares again itself.
	admin := adminChannel(t)
	_, err := admin.QueueDelete(cfg.JobQueue, false, false, false)
	require.NoError(t, err)
	publishEventually(t, pub, testJobs(1))
	require.Eventually(t, func() bool { return log.len() == 2 }, eventually, 10*time.Millisecond)
}

func TestStopWhileHandshakeHangs(t *testing.T) {
	// A peer that accepts TCP and then says nothing.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	cfg := testConfig(t)
	cfg.URL = "amqp://guest:guest@" + ln.Addr().String() + "/"
	cfg.DialTimeout = time.Hour

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ConsumeJobs(ctx, cfg, 1, func(context.Context, check.Job, Delivery) Outcome { return Ack })
	}()
	time.Sleep(100 * time.Millisecond) // let it get stuck in the handshake
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(eventually):
		require.Fail(t, "ConsumeJobs waited for the handshake timeout instead of stopping")
	}
}
