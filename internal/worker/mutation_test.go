package worker

// Tests that pin down what mutation testing (hack/mutation.sh,
// docs/testing.md) found the other tests let change. They are in package
// worker to see the configuration New settled on and to drive fill and
// flush directly; being internal tests they run before worker_test.go's,
// so a mutant that leaves no flusher (every Handle would wait forever)
// fails here at once instead of timing out.

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// deadlineProber answers res and records how long its context had left.
type deadlineProber struct {
	res  check.Result
	left time.Duration
	ok   bool
}

func (p *deadlineProber) Probe(ctx context.Context, j check.Job) check.Result {
	var d time.Time
	d, p.ok = ctx.Deadline()
	p.left = time.Until(d)
	r := p.res
	r.CheckID, r.Service, r.ScheduledAt = j.CheckID, j.Service, j.ScheduledAt
	return r
}

// deadlineRecorder stores nothing and records the context it was given.
type deadlineRecorder struct {
	mu   sync.Mutex
	left time.Duration
	ok   bool
	err  error
}

func (r *deadlineRecorder) Record(ctx context.Context, rs []check.Result) (registry.RecordOutcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d time.Time
	d, r.ok = ctx.Deadline()
	r.left, r.err = time.Until(d), ctx.Err()
	return registry.RecordOutcome{Stored: len(rs)}, nil
}

type nopPublisher struct{}

func (nopPublisher) PublishTransitions(context.Context, []check.Transition) error { return nil }

func TestNewAppliesDefaults(t *testing.T) {
	w := New(&deadlineProber{}, &deadlineRecorder{}, nopPublisher{}, Config{})
	defer w.Close()
	require.Equal(t, 200, w.cfg.MaxBatch)
	require.Equal(t, 2, w.cfg.Flushers)
	require.Equal(t, DefaultLinger, w.cfg.Linger)
	require.Equal(t, 200, w.batch.max)
	require.Equal(t, DefaultLinger, w.batch.linger)

	kept := New(&deadlineProber{}, &deadlineRecorder{}, nopPublisher{}, Config{MaxBatch: 7, Flushers: 1, Linger: -1})
	defer kept.Close()
	require.Equal(t, 7, kept.batch.max)
	require.Equal(t, 1, kept.cfg.Flushers)
	require.Equal(t, time.Duration(-1), kept.batch.linger, "a negative linger flushes at once")
}

// The probe's context leaves the prober one second past the job's timeout
// to report the timeout itself.
func TestHandleGivesTheProbeItsTimeoutAndASecond(t *testing.T) {
	p := &deadlineProber{res: check.Result{Status: check.ResultUp}}
	w := New(p, &deadlineRecorder{}, nopPublisher{}, Config{Linger: -1, MaxJobAge: -1})
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, w.Handle(ctx, check.Job{CheckID: "a", Timeout: 3 * time.Second}))
	require.True(t, p.ok)
	require.Greater(t, p.left, 3*time.Second)
	require.LessOrEqual(t, p.left, 4*time.Second)
}

// "probe finished" names the HTTP status only when there is one.
func TestHandleLogsTheHTTPStatusWhenThereIsOne(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	p := &deadlineProber{}
	w := New(p, &deadlineRecorder{}, nopPublisher{}, Config{Linger: -1, MaxJobAge: -1, Logger: zap.New(core)})
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p.res = check.Result{Status: check.ResultUp, HTTPStatus: 204}
	require.NoError(t, w.Handle(ctx, check.Job{CheckID: "a", Timeout: time.Second}))
	p.res = check.Result{Status: check.ResultDown, Error: "dial tcp: connection refused"}
	require.NoError(t, w.Handle(ctx, check.Job{CheckID: "b", Timeout: time.Second}))

	entries := logs.FilterMessage("probe finished").All()
	require.Len(t, entries, 2)
	require.EqualValues(t, 204, entries[0].ContextMap()["http_status"])
	require.NotContains(t, entries[1].ContextMap(), "http_status")
	require.NotContains(t, entries[0].ContextMap(), "error")
}

// fill stops at max whether or not it lingers, and without a linger takes
// only what is already waiting.
func TestFillTakesAtMostMax(t *testing.T) {
	for _, linger := range []time.Duration{-1, time.Hour} {
		b := &batcher{max: 3, linger: linger, in: make(chan *pending, 10), done: make(chan struct{})}
		for range 5 {
			b.in <- &pending{}
		}
		require.Len(t, b.fill(&pending{}), 3, "linger %s", linger)
		require.Len(t, b.in, 3, "the rest wait for the next batch")
	}
	b := &batcher{max: 3, linger: -1, in: make(chan *pending, 10), done: make(chan struct{})}
	b.in <- &pending{}
	require.Len(t, b.fill(&pending{}), 2, "without a linger a short batch goes at once")
}

// A batch is recorded under its own 30s bound, not under any caller's
// context (a pending carries none): a caller that gave up must not fail
// the others' results.
func TestFlushRecordsUnderItsOwnDeadline(t *testing.T) {
	rec := &deadlineRecorder{}
	b := &batcher{rec: rec, max: 10, linger: -1}
	p := &pending{result: check.Result{CheckID: "a"}, reply: make(chan recorded, 1)}
	b.flush([]*pending{p})
	require.NoError(t, (<-p.reply).err)
	require.NoError(t, rec.err)
	require.True(t, rec.ok)
	require.Greater(t, rec.left, 20*time.Second)
	require.LessOrEqual(t, rec.left, 30*time.Second)
}
