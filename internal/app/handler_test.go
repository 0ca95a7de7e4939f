package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/metrics"
	"github.com/vigil-dev/vigil/internal/queue"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/worker"
)

type countingProber struct{ n atomic.Int32 }

func (p *countingProber) Probe(_ context.Context, j check.Job) check.Result {
	p.n.Add(1)
	return check.Result{CheckID: j.CheckID, ScheduledAt: j.ScheduledAt, CheckedAt: time.Now(), Status: check.ResultUp}
}

type keepRecorder struct{}

func (keepRecorder) Record(_ context.Context, rs []check.Result) (registry.RecordOutcome, error) {
	return registry.RecordOutcome{Stored: len(rs)}, nil
}

type dropPublisher struct{}

func (dropPublisher) PublishTransitions(context.Context, []check.Transition) error { return nil }

// A first delivery of a stale job is acked without a probe; a retry of the
// same job (late by the retry delays on purpose) is probed.
func TestJobHandlerShedsFirstDeliveriesOnly(t *testing.T) {
	p := &countingProber{}
	w := worker.New(p, keepRecorder{}, dropPublisher{}, worker.Config{Linger: -1})
	t.Cleanup(w.Close)
	h := jobHandler(w, metrics.New())
	stale := check.Job{CheckID: "a", Type: check.TypeHTTP, URL: "http://127.0.0.1:1", Timeout: time.Second,
		ScheduledAt: time.Now().Add(-2 * time.Minute), Interval: 10 * time.Second}

	require.Equal(t, queue.Ack, h(context.Background(), stale, queue.Delivery{Attempt: 1}))
	require.Zero(t, p.n.Load())
	require.Equal(t, queue.Ack, h(context.Background(), stale, queue.Delivery{Attempt: 1, Redelivered: true}),
		"a worker that died left it: shed as well")
	require.Zero(t, p.n.Load())
	require.Equal(t, queue.Ack, h(context.Background(), stale, queue.Delivery{Attempt: 2, Redelivered: true}))
	require.EqualValues(t, 1, p.n.Load(), "a retry is probed")
}

// A first delivery that waited too long since it was published is acked
// without a probe, however recent its tick; a retry is probed, and so is
// a job whose publish time is unknown.
func TestJobHandlerShedsWhatWaitedTooLong(t *testing.T) {
	p := &countingProber{}
	w := worker.New(p, keepRecorder{}, dropPublisher{}, worker.Config{Linger: -1, MaxQueueWait: worker.RecommendedMaxQueueWait})
	t.Cleanup(w.Close)
	m := metrics.New()
	h := jobHandler(w, m)
	job := check.Job{CheckID: "a", Type: check.TypeHTTP, URL: "http://127.0.0.1:1", Timeout: time.Second,
		ScheduledAt: time.Now(), Interval: 10 * time.Second}
	long := time.Now().Add(-worker.RecommendedMaxQueueWait - time.Second)

	require.Equal(t, queue.Ack, h(context.Background(), job, queue.Delivery{Attempt: 1, PublishedAt: long}))
	require.Zero(t, p.n.Load())
	require.Equal(t, queue.Ack, h(context.Background(), job, queue.Delivery{Attempt: 2, Redelivered: true, PublishedAt: long}))
	require.EqualValues(t, 1, p.n.Load(), "a retry is probed")
	require.Equal(t, queue.Ack, h(context.Background(), job, queue.Delivery{Attempt: 1}))
	require.EqualValues(t, 2, p.n.Load(), "no publish time: judged by its tick")
	require.Equal(t, queue.Ack, h(context.Background(), job, queue.Delivery{Attempt: 1, PublishedAt: time.Now()}))
	require.EqualValues(t, 3, p.n.Load())
}
