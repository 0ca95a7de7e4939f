package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
	"github.com/vigil-dev/vigil/internal/worker"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fakeProber struct {
	up       atomic.Bool
	deadline atomic.Bool
}

func (p *fakeProber) Probe(ctx context.Context, j check.Job) check.Result {
	_, ok := ctx.Deadline()
	p.deadline.Store(ok)
	r := check.Result{CheckID: j.CheckID, Service: j.Service, ScheduledAt: j.ScheduledAt,
		CheckedAt: j.ScheduledAt.Add(time.Millisecond), Latency: 7 * time.Millisecond, Status: check.ResultDown,
		Error: "connection refused"}
	if p.up.Load() {
		r.Status, r.Error, r.HTTPStatus = check.ResultUp, "", 200
	}
	return r
}

// fakeRecorder behaves like the store: idempotent per (check, tick), state
// through check.Apply, and redeliveries hand back the logged transition.
type fakeRecorder struct {
	mu      sync.Mutex
	state   map[string]check.Snapshot
	results map[string]bool
	logged  map[string]check.Transition
	nextID  int64
	calls   int
	sizes   []int
	fail    error
	delay   time.Duration
}

func newRecorder() *fakeRecorder {
	return &fakeRecorder{state: map[string]check.Snapshot{}, results: map[string]bool{}, logged: map[string]check.Transition{}}
}

func (f *fakeRecorder) Record(_ context.Context, rs []check.Result) (registry.RecordOutcome, error) {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.sizes = append(f.sizes, len(rs))
	if f.fail != nil {
		return registry.RecordOutcome{}, f.fail
	}
	var out registry.RecordOutcome
	for _, r := range rs {
		key := fmt.Sprintf("%s@%d", r.CheckID, r.ScheduledAt.UnixMicro())
		if f.results[key] {
			if t, ok := f.logged[key]; ok {
				out.Transitions = append(out.Transitions, t)
			}
			continue
		}
		f.results[key] = true
		out.Stored++
		prev := f.state[r.CheckID]
		next, changed := check.Apply(prev, r, check.Thresholds{Failure: 1, Success: 1})
		f.state[r.CheckID] = next
		if changed {
			f.nextID++
			t := check.Transition{ID: f.nextID, CheckID: r.CheckID, From: prev.State, To: next.State,
				At: r.CheckedAt, ScheduledAt: r.ScheduledAt, Error: r.Error, Latency: r.Latency}
			if t.From == "" {
				t.From = check.StateUnknown
			}
			f.logged[key] = t
			out.Transitions = append(out.Transitions, t)
		}
	}
	return out, nil
}

func (f *fakeRecorder) count() int     { f.mu.Lock(); defer f.mu.Unlock(); return len(f.results) }
func (f *fakeRecorder) callCount() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

type fakePublisher struct {
	mu    sync.Mutex
	sent  []check.Transition
	fails int
}

func (p *fakePublisher) PublishTransitions(_ context.Context, ts []check.Transition) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fails > 0 {
		p.fails--
		return errors.New("broker unavailable")
	}
	p.sent = append(p.sent, ts...)
	return nil
}

func job(id string, tick int) check.Job {
	return check.Job{CheckID: id, Service: "svc-" + id, Type: check.TypeHTTP, URL: "http://127.0.0.1:1",
		Timeout: time.Second, ScheduledAt: t0.Add(time.Duration(tick) * 10 * time.Second)}
}

// atT0 is a worker clock at t0, when the jobs of job() are on time.
func atT0() time.Time { return t0 }

func newWorker(t *testing.T, p worker.Prober, r worker.Recorder, pub worker.TransitionPublisher, cfg worker.Config) *worker.Worker {
	if cfg.Now == nil {
		cfg.Now = atT0
	}
	w := worker.New(p, r, pub, cfg)
	t.Cleanup(w.Close)
	return w
}

func TestHandlePublishesOnlyTransitions(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	prober, rec, pub := &fakeProber{}, newRecorder(), &fakePublisher{}
	var results, transitions atomic.Int32
	w := newWorker(t, prober, rec, pub, worker.Config{Logger: zap.New(core),
		OnResult:     func(check.Result) { results.Add(1) },
		OnTransition: func(check.Transition) { transitions.Add(1) }})
	ctx := context.Background()

	require.NoError(t, w.Handle(ctx, job("a", 1)))
	require.True(t, prober.deadline.Load(), "every probe runs under a deadline")
	require.NoError(t, w.Handle(ctx, job("a", 2)))
	prober.up.Store(true)
	require.NoError(t, w.Handle(ctx, job("a", 3)))
	require.NoError(t, w.Handle(ctx, job("a", 4)))

	require.Len(t, pub.sent, 2, "only UNKNOWN->DOWN and DOWN->UP, nothing for steady results")
	require.Equal(t, check.StateDown, pub.sent[0].To)
	require.Equal(t, check.StateUp, pub.sent[1].To)
	require.EqualValues(t, 4, results.Load())
	require.EqualValues(t, 2, transitions.Load())

	probes := logs.FilterMessage("probe finished").All()
	require.Len(t, probes, 4)
	fields := probes[0].ContextMap()
	require.Equal(t, "svc-a", fields["service"])
	require.Equal(t, "a", fields["check_id"])
	require.Equal(t, "DOWN", fields["status"])
	require.Equal(t, 7.0, fields["latency_ms"])
	require.Equal(t, "connection refused", fields["error"])
	require.Len(t, logs.FilterMessage("state changed").All(), 2)
}

func TestHandleRedeliveryIsSafe(t *testing.T) {
	rec, pub := newRecorder(), &fakePublisher{fails: 1}
	w := newWorker(t, &fakeProber{}, rec, pub, worker.Config{})
	ctx := context.Background()

	err := w.Handle(ctx, job("a", 1))
	require.Error(t, err, "an unpublished transition asks for redelivery")
	require.Empty(t, pub.sent)

	require.NoError(t, w.Handle(ctx, job("a", 1)), "the redelivery")
	require.Len(t, pub.sent, 1, "the transition logged by the first delivery goes out on the second")
	require.Len(t, rec.results, 1, "stored once")

	require.NoError(t, w.Handle(ctx, job("a", 1)))
	require.Len(t, pub.sent, 2, "at-least-once: a third delivery republishes; broadcasters de-duplicate by id")
	require.Equal(t, pub.sent[0].ID, pub.sent[1].ID)
}

func TestHandleRecordFailureRequeues(t *testing.T) {
	rec, pub := newRecorder(), &fakePublisher{}
	rec.fail = errors.New("database down")
	w := newWorker(t, &fakeProber{}, rec, pub, worker.Config{})
	require.ErrorContains(t, w.Handle(context.Background(), job("a", 1)), "database down")
	require.Empty(t, pub.sent)
}

func TestConcurrentResultsShareTransactions(t *testing.T) {
	rec, pub := newRecorder(), &fakePublisher{}
	rec.delay = 20 * time.Millisecond
	w := newWorker(t, &fakeProber{}, rec, pub, worker.Config{MaxBatch: 50, Flushers: 1})
	handleAtOnce(t, w, 100)
	require.Len(t, rec.results, 100)
	require.Less(t, rec.calls, 100, "results that arrive during a transaction share the next one")
	for _, n := range rec.sizes {
		require.LessOrEqual(t, n, 50)
	}
	require.Len(t, pub.sent, 100, "each check's first result is a transition, delivered to its own job")
}

func TestHandleAfterCloseOrCancel(t *testing.T) {
	w := worker.New(&fakeProber{}, newRecorder(), &fakePublisher{}, worker.Config{Now: atT0})
	w.Close()
	require.Error(t, w.Handle(context.Background(), job("a", 1)))

	rec := newRecorder()
	// No linger: the one flusher is busy recording the slow result, not
	// waiting for more, when the cancelled Handle comes.
	w2 := newWorker(t, &fakeProber{}, rec, &fakePublisher{}, worker.Config{Flushers: 1, Linger: -1})
	rec.delay = 200 * time.Millisecond
	go func() { _ = w2.Handle(context.Background(), job("slow", 1)) }()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, w2.Handle(ctx, job("b", 1)), context.Canceled)
}

// Results that arrive one after another within the linger share one
// transaction; without a linger each is recorded on its own.
func TestLingerGathersSpreadOutResults(t *testing.T) {
	for _, tt := range []struct {
		name      string
		linger    time.Duration
		wantCalls int
	}{
		{"linger", time.Second, 1},
		{"none", -1, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			w := newWorker(t, &fakeProber{}, rec, &fakePublisher{}, worker.Config{Flushers: 1, Linger: tt.linger})
			var wg sync.WaitGroup
			for i := range 10 {
				wg.Go(func() {
					assert.NoError(t, w.Handle(context.Background(), job(strconv.Itoa(i), 1)))
				})
				// Spread out: a flusher that did not linger has flushed
				// each one before the next arrives.
				require.Eventually(t, func() bool { return tt.linger > 0 || rec.count() == i+1 }, 5*time.Second, time.Millisecond)
				time.Sleep(5 * time.Millisecond)
			}
			wg.Wait()
			require.Equal(t, 10, rec.count())
			require.Equal(t, tt.wantCalls, rec.callCount())
		})
	}
}

// A full batch does not wait for the linger.
func TestLingerEndsWhenTheBatchIsFull(t *testing.T) {
	rec := newRecorder()
	w := newWorker(t, &fakeProber{}, rec, &fakePublisher{}, worker.Config{Flushers: 1, MaxBatch: 5, Linger: time.Hour})
	handleAtOnce(t, w, 10)
	require.Equal(t, 2, rec.callCount())
}

// handleAtOnce handles one job each of n checks concurrently and waits for
// them all.
func handleAtOnce(t *testing.T, w *worker.Worker, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			assert.NoError(t, w.Handle(context.Background(), job(strconv.Itoa(i), 1)))
		})
	}
	wg.Wait()
}
