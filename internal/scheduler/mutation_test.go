package scheduler_test

// Tests that pin down what mutation testing (hack/mutation.sh,
// docs/testing.md) found the other tests let change: the defaults of
// Config, the backoff's range, the recovery log, the resolution's
// arithmetic and the error of a parallel drain.
//
// Several of those mutants make the loop spin: claim again and again
// without sleeping. A test that waits for a sleep would only notice after
// its own deadline, so the claimer here counts claims and reports a spin
// at once (spinLimit), and step also fails at once when Run returns
// before it is stopped. These tests run before scheduler_test.go's (file
// order), so with `go test -failfast` a spinning mutant fails here in
// milliseconds.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/scheduler"
)

var errSpin = errors.New("claimed more often than the test allows: the loop spins")

// scriptClaimer claims what the test tells it to, and counts.
type scriptClaimer struct {
	mu     sync.Mutex
	claims int
	// limit is the most claims the test expects; the next one reports a
	// spin on spun and fails.
	limit int
	spun  chan struct{}
	// n returns how many jobs claim number i (from 1) claims, or an error.
	n func(i int) (int, error)
	// due is what NextDue answers.
	due func() (time.Time, bool)
	// clk and takes, when set, make every claim take that long on clk.
	clk   *fakeClock
	takes time.Duration
}

func newScript(limit int) *scriptClaimer {
	return &scriptClaimer{limit: limit, spun: make(chan struct{}, 1),
		n:   func(int) (int, error) { return 0, nil },
		due: func() (time.Time, bool) { return time.Time{}, false }}
}

func (c *scriptClaimer) ClaimDue(ctx context.Context, now time.Time, _ int, _ time.Duration, publish func(context.Context, []check.Job, int) error) (int, error) {
	c.mu.Lock()
	c.claims++
	i := c.claims
	c.mu.Unlock()
	if i > c.limit {
		select {
		case c.spun <- struct{}{}:
		default:
		}
		return 0, errSpin
	}
	if c.clk != nil {
		c.clk.mu.Lock()
		c.clk.now = c.clk.now.Add(c.takes)
		c.clk.mu.Unlock()
	}
	n, err := c.n(i)
	if err != nil || n == 0 {
		return 0, err
	}
	jobs := make([]check.Job, n)
	for j := range jobs {
		jobs[j] = check.Job{CheckID: "c", ScheduledAt: now}
	}
	if err := publish(ctx, jobs, 0); err != nil {
		return 0, err
	}
	return n, nil
}

func (c *scriptClaimer) NextDue(context.Context) (time.Time, bool, error) {
	t, ok := c.due()
	return t, ok, nil
}

func (c *scriptClaimer) Behind(context.Context, time.Time) (bool, error) { return false, nil }

func (c *scriptClaimer) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.claims }

// loop is a running Scheduler.Run under a fake clock.
type loop struct {
	clk    *fakeClock
	spun   chan struct{}
	done   chan error
	cancel func()
}

func startLoop(t *testing.T, c scheduler.Claimer, spun chan struct{}, p scheduler.Publisher, cfg scheduler.Config) *loop {
	t.Helper()
	if cfg.Clock == nil {
		cfg.Clock = newClock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{clk: cfg.Clock.(*fakeClock), spun: spun, done: make(chan error, 1), cancel: cancel}
	s := scheduler.New(c, p, cfg)
	go func() { l.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-l.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return l
}

// step is fakeClock.step that also fails at once when the loop spins or
// returns on its own.
func (l *loop) step(t *testing.T) time.Duration {
	t.Helper()
	s := l.awaitSleep(t)
	l.wake(s)
	return s.d
}

// awaitSleep waits until the loop asks to sleep and returns the request
// without waking it: what the loop did before the sleep can be read then,
// with the loop parked.
func (l *loop) awaitSleep(t *testing.T) sleep {
	t.Helper()
	select {
	case s := <-l.clk.sleeps:
		return s
	case <-l.spun:
		t.Fatal("the loop claims without sleeping")
	case err := <-l.done:
		t.Fatalf("Run returned before it was stopped (err %v)", err)
	case <-time.After(5 * time.Second):
		t.Fatal("scheduler did not sleep")
	}
	return sleep{}
}

// wake moves the clock past s and wakes the loop.
func (l *loop) wake(s sleep) {
	l.clk.mu.Lock()
	l.clk.now = l.clk.now.Add(s.d)
	now := l.clk.now
	l.clk.mu.Unlock()
	s.wake <- now
}

// With nothing due the loop sleeps MaxIdle, 200ms by default, and does not
// return until it is stopped.
func TestRunSleepsTheDefaultMaxIdle(t *testing.T) {
	c := newScript(20)
	l := startLoop(t, c, c.spun, &fakePublisher{}, scheduler.Config{Resolution: -1})
	for i := range 5 {
		s := l.awaitSleep(t)
		require.Equal(t, 200*time.Millisecond, s.d)
		require.Equal(t, i+1, c.count(), "one claim per round")
		l.wake(s)
	}
}

// A round that leaves a tick due now (locked by another replica, say)
// loops at once when there is no resolution to wait for: no zero-length
// sleep in between.
func TestRunLoopsWithoutSleepingWhenATickIsDueNow(t *testing.T) {
	clk := newClock()
	c := newScript(20)
	c.due = func() (time.Time, bool) {
		if c.count() == 1 {
			return clk.Now(), true
		}
		return time.Time{}, false
	}
	l := startLoop(t, c, c.spun, &fakePublisher{}, scheduler.Config{Clock: clk, Resolution: -1, MaxIdle: time.Second})
	s := l.awaitSleep(t)
	require.Equal(t, time.Second, s.d)
	require.Equal(t, 2, c.count(), "the second claim came at once, before any sleep")
	l.wake(s)
}

// The resolution counts from when a round began: a round whose claim took
// 300ms waits only the rest.
func TestRunWaitsTheRestOfTheResolution(t *testing.T) {
	clk := newClock()
	c := newScript(20)
	c.clk, c.takes = clk, 300*time.Millisecond
	c.n = func(int) (int, error) { return 3, nil }
	c.due = func() (time.Time, bool) { return clk.Now(), true }
	l := startLoop(t, c, c.spun, &fakePublisher{}, scheduler.Config{Clock: clk, Resolution: time.Second})
	for range 5 {
		require.Equal(t, 700*time.Millisecond, l.step(t))
	}
}

// After a failure the waits grow from 100ms, doubling, with up to 50%
// jitter below the step, until MaxBackoff (5s by default) caps them. The
// loop never waits zero and never gives up.
func TestRunBacksOffExponentially(t *testing.T) {
	t.Run("uncapped", func(t *testing.T) {
		c := newScript(40)
		c.n = func(int) (int, error) { return 0, errors.New("database down") }
		l := startLoop(t, c, c.spun, &fakePublisher{}, scheduler.Config{MaxBackoff: time.Hour})
		for attempt := 1; attempt <= 14; attempt++ {
			d := 100 * time.Millisecond << min(attempt-1, 10)
			w := l.step(t)
			require.GreaterOrEqual(t, w, d/2, "attempt %d", attempt)
			require.LessOrEqual(t, w, d, "attempt %d", attempt)
		}
	})
	t.Run("default cap", func(t *testing.T) {
		c := newScript(40)
		c.n = func(int) (int, error) { return 0, errors.New("database down") }
		l := startLoop(t, c, c.spun, &fakePublisher{}, scheduler.Config{})
		for attempt := 1; attempt <= 12; attempt++ {
			w := l.step(t)
			require.Positive(t, w, "attempt %d", attempt)
			require.LessOrEqual(t, w, 5*time.Second, "attempt %d", attempt)
			if attempt >= 8 { // 12.8s before the cap
				require.GreaterOrEqual(t, w, 2500*time.Millisecond, "attempt %d", attempt)
			}
		}
	})
}

// The jitter covers the whole upper half of the step: over many samples
// the waits reach close to both ends.
func TestBackoffJitterSpansHalfTheStep(t *testing.T) {
	c := newScript(400)
	c.n = func(int) (int, error) { return 0, errors.New("database down") }
	l := startLoop(t, c, c.spun, &fakePublisher{}, scheduler.Config{MaxBackoff: 100 * time.Millisecond})
	lo, hi := time.Hour, time.Duration(0)
	for range 300 {
		w := l.step(t)
		lo, hi = min(lo, w), max(hi, w)
	}
	// Uniform over [50ms, 100ms]: the chance that none of 300 samples
	// falls within 5ms of one end is 0.9^300, about 2e-14.
	require.GreaterOrEqual(t, lo, 50*time.Millisecond)
	require.Less(t, lo, 55*time.Millisecond)
	require.LessOrEqual(t, hi, 100*time.Millisecond)
	require.Greater(t, hi, 95*time.Millisecond)
}

// Recovery is logged once, with the number of failed attempts; steady
// success logs nothing.
func TestRunLogsRecoveryOnce(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	c := newScript(20)
	c.n = func(i int) (int, error) {
		if i <= 2 {
			return 0, errors.New("database down")
		}
		return 0, nil
	}
	l := startLoop(t, c, c.spun, &fakePublisher{}, scheduler.Config{Logger: zap.New(core), MaxIdle: time.Second, MaxBackoff: time.Second})
	for range 6 {
		l.step(t)
	}
	require.Len(t, logs.FilterMessage("dispatch failed; retrying").All(), 2)
	recovered := logs.FilterMessage("dispatch recovered").All()
	require.Len(t, recovered, 1)
	require.EqualValues(t, 2, recovered[0].ContextMap()["failed_attempts"])
}

// The defaults of Config, seen through Dispatch: a batch of 500 (a short
// first batch is the only claim), a 30s catch-up, a 10s publish timeout.
func TestDispatchDefaults(t *testing.T) {
	t.Run("batch size", func(t *testing.T) {
		c := newScript(10)
		c.n = func(int) (int, error) { return 499, nil }
		n, err := scheduler.New(c, &fakePublisher{}, scheduler.Config{Clock: newClock()}).Dispatch(context.Background())
		require.NoError(t, err)
		require.Equal(t, 499, n)
		require.Equal(t, 1, c.count(), "499 of 500 is a short batch")

		c = newScript(10)
		c.n = func(i int) (int, error) { return max(500-i+1, 0), nil } // 500, then short ones
		n, err = scheduler.New(c, &fakePublisher{}, scheduler.Config{Clock: newClock(), Parallel: 1}).Dispatch(context.Background())
		require.NoError(t, err)
		require.Equal(t, 500+499, n)
		require.Equal(t, 2, c.count(), "a full batch of 500 asks for more")
	})
	t.Run("catch-up", func(t *testing.T) {
		for _, tt := range []struct {
			name    string
			catchUp time.Duration
			tick    time.Duration // after the due one, 25s late
		}{
			{"default 30s dispatches the missed tick", 0, 0},
			{"5s skips to the oldest tick within it", 5 * time.Second, 20 * time.Second},
			{"negative skips every missed tick", -1, 20 * time.Second},
		} {
			t.Run(tt.name, func(t *testing.T) {
				reg := newRegistry(1, 10*time.Second)
				due := reg.next["c000"]
				clk := newClock()
				clk.now = due.Add(25 * time.Second)
				pub := &fakePublisher{}
				_, err := scheduler.New(reg, pub, scheduler.Config{Clock: clk, CatchUp: tt.catchUp}).Dispatch(context.Background())
				require.NoError(t, err)
				require.Len(t, pub.published(), 1)
				require.Equal(t, due.Add(tt.tick), pub.published()[0].ScheduledAt)
			})
		}
	})
	t.Run("publish timeout", func(t *testing.T) {
		for _, tt := range []struct {
			cfg      time.Duration
			min, max time.Duration
		}{
			{0, 5 * time.Second, 10 * time.Second},
			{2 * time.Second, 0, 2 * time.Second},
		} {
			c := newScript(10)
			c.n = func(int) (int, error) { return 1, nil }
			pub := &deadlinePublisher{}
			_, err := scheduler.New(c, pub, scheduler.Config{Clock: newClock(), PublishTimeout: tt.cfg}).Dispatch(context.Background())
			require.NoError(t, err)
			require.True(t, pub.ok, "a publish always has a deadline")
			require.Greater(t, pub.left, tt.min, "PublishTimeout %s", tt.cfg)
			require.LessOrEqual(t, pub.left, tt.max, "PublishTimeout %s", tt.cfg)
		}
	})
}

// deadlinePublisher records how long its context had left.
type deadlinePublisher struct {
	left time.Duration
	ok   bool
}

func (p *deadlinePublisher) PublishJobs(ctx context.Context, _ []check.Job) error {
	var d time.Time
	d, p.ok = ctx.Deadline()
	p.left = time.Until(d)
	return ctx.Err()
}

// An error in any of the parallel drains is Dispatch's error, so Run
// backs off instead of treating the round as done.
func TestDispatchReportsAParallelDrainError(t *testing.T) {
	down := errors.New("database down")
	c := newScript(20)
	c.n = func(i int) (int, error) {
		if i == 1 {
			return 10, nil // full: fan out
		}
		return 0, down
	}
	n, err := scheduler.New(c, &fakePublisher{}, scheduler.Config{Clock: newClock(), BatchSize: 10, Parallel: 3}).Dispatch(context.Background())
	require.ErrorIs(t, err, down)
	require.Equal(t, 10, n)
	require.Equal(t, 4, c.count(), "the first claim and one per drain")
}
