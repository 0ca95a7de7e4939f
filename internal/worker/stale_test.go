package worker_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/worker"
)

// countingProber counts the probes it ran.
type countingProber struct {
	fakeProber
	probes atomic.Int32
}

func (p *countingProber) Probe(ctx context.Context, j check.Job) check.Result {
	p.probes.Add(1)
	return p.fakeProber.Probe(ctx, j)
}

// fakeClock is a worker clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// lateJob is a job of a check with the given interval whose tick was late
// ago on the clock at t0.
func lateJob(id string, interval, late time.Duration) check.Job {
	j := job(id, 0)
	j.ScheduledAt = t0.Add(-late)
	j.Interval = interval
	return j
}

func TestStaleJobIsAckedWithoutAProbe(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	prober, rec := &countingProber{}, newRecorder()
	var stale []time.Duration
	w := newWorker(t, prober, rec, &fakePublisher{}, worker.Config{Logger: zap.New(core),
		OnStale: func(j check.Job, reason string, late time.Duration) {
			require.Equal(t, "a", j.CheckID)
			require.Equal(t, worker.ShedStale, reason)
			stale = append(stale, late)
		}})

	require.NoError(t, w.Handle(context.Background(), lateJob("a", 10*time.Second, 2*time.Minute)),
		"a stale job is done: its message is acked")
	require.Zero(t, prober.probes.Load(), "a stale job is not probed")
	require.Zero(t, rec.count(), "nor does it get a result: its tick has none")
	require.Equal(t, []time.Duration{2 * time.Minute}, stale, "it is counted, with how late it was")

	entries := logs.FilterMessage("skipped stale job without probing").All()
	require.Len(t, entries, 1)
	require.Equal(t, zap.DebugLevel, entries[0].Level, "one line per job only at debug level")
	fields := entries[0].ContextMap()
	require.Equal(t, "svc-a", fields["service"])
	require.Equal(t, "a", fields["check_id"])
	require.Equal(t, 120000.0, fields["late_ms"])
	require.Equal(t, 60000.0, fields["max_age_ms"])

	require.NoError(t, w.Handle(context.Background(), lateJob("b", 10*time.Second, 2*time.Second)))
	require.EqualValues(t, 1, prober.probes.Load(), "a job on time is probed")
	require.Equal(t, 1, rec.count())
	require.Len(t, stale, 1)
}

// How late a job may be: the longer of its check's interval and
// MaxJobAge, which never goes below MinMaxJobAge; jobs without an interval
// (from a scheduler that predates it) have MaxJobAge alone.
func TestHowLateAJobIsStillProbed(t *testing.T) {
	const ms = time.Millisecond
	for _, tt := range []struct {
		name      string
		maxJobAge time.Duration
		interval  time.Duration
		late      time.Duration
		probed    bool
	}{
		{"the default bound", 0, 10 * time.Second, worker.DefaultMaxJobAge, true},
		{"past the default bound", 0, 10 * time.Second, worker.DefaultMaxJobAge + ms, false},
		{"a long interval is its own bound", 0, 2 * time.Minute, 90 * time.Second, true},
		{"past a long interval", 0, 2 * time.Minute, 2*time.Minute + ms, false},
		{"no interval: the configured bound", 45 * time.Second, 0, 44 * time.Second, true},
		{"no interval, past the configured bound", 45 * time.Second, 0, 45*time.Second + ms, false},
		{"a short interval below the bound", 45 * time.Second, time.Second, 44 * time.Second, true},
		{"the floor holds for a bound set below it", time.Second, time.Second, worker.MinMaxJobAge, true},
		{"past the floor", time.Second, time.Second, worker.MinMaxJobAge + ms, false},
		{"shedding off", -1, time.Second, time.Hour, true},
		{"a tick ahead of the worker's clock", 0, time.Second, -5 * time.Second, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prober, rec := &countingProber{}, newRecorder()
			var shed atomic.Int32
			w := newWorker(t, prober, rec, &fakePublisher{}, worker.Config{MaxJobAge: tt.maxJobAge,
				OnStale: func(check.Job, string, time.Duration) { shed.Add(1) }})
			require.NoError(t, w.Handle(context.Background(), lateJob("a", tt.interval, tt.late)))
			want := int32(0)
			if tt.probed {
				want = 1
			}
			require.Equal(t, want, prober.probes.Load(), "probed")
			require.Equal(t, 1-want, shed.Load(), "shed")
		})
	}
}

// A retry after a failure of ours is late by the retry delays on purpose:
// it is probed however late.
func TestRetryIsProbedHoweverLate(t *testing.T) {
	prober, rec := &countingProber{}, newRecorder()
	w := newWorker(t, prober, rec, &fakePublisher{}, worker.Config{})
	require.NoError(t, w.HandleRetry(context.Background(), lateJob("a", 10*time.Second, time.Hour)))
	require.EqualValues(t, 1, prober.probes.Load())
	require.Equal(t, 1, rec.count())
	require.False(t, w.Overloaded())
}

// Overloaded is true from a shed job until OverloadWindow has passed
// without another.
func TestOverloadedAfterShedding(t *testing.T) {
	clock := &fakeClock{now: t0}
	w := newWorker(t, &countingProber{}, newRecorder(), &fakePublisher{}, worker.Config{Now: clock.Now})
	require.False(t, w.Overloaded(), "nothing shed yet")
	require.NoError(t, w.Handle(context.Background(), lateJob("a", 10*time.Second, 2*time.Minute)))
	require.True(t, w.Overloaded())
	clock.set(t0.Add(worker.OverloadWindow - time.Millisecond))
	require.True(t, w.Overloaded())
	clock.set(t0.Add(worker.OverloadWindow))
	require.False(t, w.Overloaded(), "a window without shedding ends it")

	// A job on time does not make a worker overloaded.
	require.NoError(t, w.Handle(context.Background(), lateJob("b", 10*time.Second, -worker.OverloadWindow)))
	require.False(t, w.Overloaded())
}

// How long a job may have waited since it was published: MaxQueueWait,
// never below MinMaxQueueWait, whatever its tick. A job without a publish
// time (from an older publisher) is judged by its tick alone.
func TestHowLongAJobMayWaitInTheQueue(t *testing.T) {
	const ms = time.Millisecond
	for _, tt := range []struct {
		name   string
		bound  time.Duration
		waited time.Duration // zero: no publish time
		late   time.Duration // of the tick
		probed bool
	}{
		{"off by default", 0, time.Hour, 0, true},
		{"the recommended bound", worker.RecommendedMaxQueueWait, worker.RecommendedMaxQueueWait, 0, true},
		{"past the recommended bound", worker.RecommendedMaxQueueWait, worker.RecommendedMaxQueueWait + ms, 0, false},
		{"a configured bound", 20 * time.Second, 20 * time.Second, 0, true},
		{"past a configured bound", 20 * time.Second, 20*time.Second + ms, 0, false},
		{"the floor holds for a bound set below it", ms, worker.MinMaxQueueWait, 0, true},
		{"past the floor", ms, worker.MinMaxQueueWait + ms, 0, false},
		{"a catch-up tick published late but waiting little", 5 * time.Second, time.Second, 25 * time.Second, true},
		{"no publish time", 5 * time.Second, 0, 2 * time.Second, true},
		{"this shedding off", -1, time.Hour, 0, true},
		{"published ahead of the worker's clock", 5 * time.Second, -time.Minute, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prober, rec := &countingProber{}, newRecorder()
			var reasons []string
			var lates []time.Duration
			w := newWorker(t, prober, rec, &fakePublisher{}, worker.Config{MaxQueueWait: tt.bound,
				OnStale: func(_ check.Job, reason string, late time.Duration) {
					reasons = append(reasons, reason)
					lates = append(lates, late)
				}})
			var published time.Time
			if tt.waited != 0 {
				published = t0.Add(-tt.waited)
			}
			require.NoError(t, w.HandlePublished(context.Background(), lateJob("a", 10*time.Second, tt.late), published))
			if tt.probed {
				require.EqualValues(t, 1, prober.probes.Load(), "probed")
				require.Empty(t, reasons)
				require.False(t, w.Overloaded())
				return
			}
			require.Zero(t, prober.probes.Load(), "shed")
			require.Zero(t, rec.count())
			require.Equal(t, []string{worker.ShedQueued}, reasons)
			require.Equal(t, []time.Duration{tt.waited}, lates, "counted with how long it waited")
			require.True(t, w.Overloaded(), "shedding for the wait is overload too")
		})
	}
}

// A job late by its tick is stale whatever its wait, and the stale rule
// is the one reported.
func TestStaleRuleComesFirst(t *testing.T) {
	var reasons []string
	w := newWorker(t, &countingProber{}, newRecorder(), &fakePublisher{}, worker.Config{MaxQueueWait: 5 * time.Second,
		OnStale: func(_ check.Job, reason string, _ time.Duration) { reasons = append(reasons, reason) }})
	require.NoError(t, w.HandlePublished(context.Background(), lateJob("a", 10*time.Second, 2*time.Minute), t0.Add(-2*time.Minute)))
	require.Equal(t, []string{worker.ShedStale}, reasons)
}
