package scheduler

// Unit tests of admission control: the decision as pure functions of the
// depth, the drain rate and the settings, its fairness, and how the
// scheduler applies it. The integration test against the real broker is
// in internal/app (admission_test.go).

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestDrainRate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, cur backlogSample
		want      float64
		wantOK    bool
	}{
		{"shrinking queue", backlogSample{at(0), 100, 1000}, backlogSample{at(2), 60, 1100}, 70, true},
		{"growing queue", backlogSample{at(0), 100, 1000}, backlogSample{at(4), 300, 1400}, 50, true},
		{"steady queue", backlogSample{at(0), 1, 0}, backlogSample{at(1), 1, 30}, 30, true},
		{"nothing published", backlogSample{at(0), 10, 5}, backlogSample{at(1), 8, 5}, 2, true},
		{"grew more than published: redeliveries", backlogSample{at(0), 10, 0}, backlogSample{at(1), 50, 5}, 0, true},
		{"empty before: workers were not busy", backlogSample{at(0), 0, 0}, backlogSample{at(1), 10, 100}, 0, false},
		{"empty after: workers were not busy", backlogSample{at(0), 10, 0}, backlogSample{at(1), 0, 100}, 0, false},
		{"no time passed", backlogSample{at(1), 10, 0}, backlogSample{at(1), 5, 100}, 0, false},
		{"time went back", backlogSample{at(2), 10, 0}, backlogSample{at(1), 5, 100}, 0, false},
		{"counter went back", backlogSample{at(0), 10, 100}, backlogSample{at(1), 5, 99}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := drainRate(tc.prev, tc.cur)
			require.Equal(t, tc.wantOK, ok)
			require.InDelta(t, tc.want, got, 1e-9)
		})
	}
}

func TestDepthLimit(t *testing.T) {
	require.InDelta(t, 200.0, depthLimit(100, 2*time.Second), 1e-9)
	require.InDelta(t, 150.0, depthLimit(100, 1500*time.Millisecond), 1e-9)
	require.InDelta(t, 11.0, depthLimit(5.5, 2*time.Second), 1e-9)
	require.InDelta(t, float64(minDepthLimit), depthLimit(5, 2*time.Second), 1e-9)
	require.InDelta(t, float64(minDepthLimit), depthLimit(0, 2*time.Second), 1e-9)
	require.Equal(t, 10, minDepthLimit)
}

func TestAdmitFraction(t *testing.T) {
	for _, tc := range []struct {
		ready int
		want  float64
	}{
		{0, 1}, {49, 1}, {50, 1}, {51, 0.98}, {75, 0.5}, {99, 0.02}, {100, 0}, {101, 0}, {5000, 0},
	} {
		require.InDelta(t, tc.want, admitFraction(tc.ready, 100), 1e-9, "ready %d", tc.ready)
	}
	// An odd limit: the ramp runs from its half, not a rounded half.
	require.InDelta(t, 1.0, admitFraction(5, 11), 1e-9)
	require.InDelta(t, 10.0/11, admitFraction(6, 11), 1e-9)
}

// fakeBacklog answers polls from a script; block makes it wait for ctx.
type fakeBacklog struct {
	mu        sync.Mutex
	ready     int
	published uint64
	err       error
	block     bool
	calls     int
}

func (f *fakeBacklog) JobBacklog(ctx context.Context) (int, uint64, error) {
	f.mu.Lock()
	f.calls++
	ready, published, err, block := f.ready, f.published, f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return 0, published, ctx.Err()
	}
	return ready, published, err
}

func (f *fakeBacklog) set(ready int, published uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready, f.published, f.err = ready, published, err
}

func (f *fakeBacklog) polls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// manualClock is a Clock whose After fires only when the test says.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []chan time.Time
	waits  chan struct{}
}

func newManualClock() *manualClock {
	return &manualClock{now: t0, waits: make(chan struct{}, 100)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.timers = append(c.timers, ch)
	c.mu.Unlock()
	c.waits <- struct{}{}
	return ch
}

// advance moves time on and fires every waiting timer.
func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, ch := range c.timers {
		ch <- c.now
	}
	c.timers = nil
}

func newTestAdmission(t *testing.T, maxLag time.Duration) (*admission, *observer.ObservedLogs, *[]int) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	var shed []int
	a := newAdmission(Config{Backlog: &fakeBacklog{}, MaxQueueLag: maxLag, Clock: newManualClock(),
		Logger: zap.New(core), OnOverload: func(n int) { shed = append(shed, n) }}.WithDefaults())
	require.NotNil(t, a)
	return a, logs, &shed
}

func TestNewAdmissionIsOffWithoutBacklogOrWithNegativeLag(t *testing.T) {
	require.Nil(t, newAdmission(Config{}.WithDefaults()))
	require.Nil(t, newAdmission(Config{Backlog: &fakeBacklog{}, MaxQueueLag: -1}.WithDefaults()))
	a := newAdmission(Config{Backlog: &fakeBacklog{}}.WithDefaults())
	require.NotNil(t, a)
	require.Equal(t, DefaultMaxQueueLag, a.maxLag)
	require.Equal(t, 2*time.Second, DefaultMaxQueueLag)
	require.Equal(t, time.Second, MinMaxQueueLag)
	require.NotNil(t, a.random, "a default source of draws")
	require.InDelta(t, 1.0, a.admitted(t0), 1e-9, "everything is admitted before the first poll")
	// Only a negative bound turns it off: zero is "unset", which
	// WithDefaults makes the default, and must not read as "off" here.
	require.NotNil(t, newAdmission(Config{Backlog: &fakeBacklog{}, MaxQueueLag: 0}))

	// A nil admission (off) passes every job and counts nothing.
	var off *admission
	jobs := []check.Job{{CheckID: "a", ScheduledAt: t0}}
	got, shed := off.filter(t0, jobs)
	require.Equal(t, jobs, got)
	require.Zero(t, shed)
	off.shedTicks(t0, 3) // must not panic
}

func TestAdmissionObserve(t *testing.T) {
	a, _, _ := newTestAdmission(t, 2*time.Second)

	// One poll tells no drain rate: everything is admitted, however deep.
	a.observe(at(0), 1000, 0, nil)
	require.InDelta(t, 1.0, a.admitted(at(0)), 1e-9)

	// Workers took 100 - (900 - 1000) = 200 messages in a second: the
	// limit is 400, and 900 waiting is far over it.
	a.observe(at(1), 900, 100, nil)
	require.InDelta(t, 200.0, a.drain, 1e-9)
	require.InDelta(t, 400.0, a.limit, 1e-9)
	require.InDelta(t, 0.0, a.admitted(at(1)), 1e-9)

	// A counter that went back tells no rate; the next (300/s) moves
	// the estimate halfway: 250/s, limit 500, and 375 waiting admits half.
	a.observe(at(2), 375, 50, nil)
	require.InDelta(t, 200.0, a.drain, 1e-9, "a counter that went back tells no rate")
	a.observe(at(3), 375, 350, nil)
	require.InDelta(t, 250.0, a.drain, 1e-9)
	require.InDelta(t, 500.0, a.limit, 1e-9)
	require.InDelta(t, 0.5, a.admitted(at(3)), 1e-9)

	// The verdict holds for sampleTTL, then fails open.
	require.InDelta(t, 0.5, a.admitted(at(3).Add(sampleTTL)), 1e-9)
	require.InDelta(t, 1.0, a.admitted(at(3).Add(sampleTTL+time.Nanosecond)), 1e-9)

	// An empty queue tells no rate but still sets the share: all.
	a.observe(at(5), 0, 400, nil)
	require.InDelta(t, 250.0, a.drain, 1e-9)
	require.InDelta(t, 1.0, a.admitted(at(5)), 1e-9)

	// A failed poll fails open at once, and the next rate needs two good
	// polls again: the one after the failure is not compared with the
	// one before it.
	a.observe(at(6), 600, 400, nil)
	require.InDelta(t, 0.0, a.admitted(at(6)), 1e-9, "600 is over the limit of 500")
	a.observe(at(7), 0, 0, errors.New("broker down"))
	require.InDelta(t, 1.0, a.admitted(at(7)), 1e-9)
	a.observe(at(8), 600, 400, nil)
	require.InDelta(t, 250.0, a.drain, 1e-9, "no rate across a failed poll")
	require.InDelta(t, 0.0, a.admitted(at(8)), 1e-9, "the old rate still sets the limit")
}

func TestAdmissionFilter(t *testing.T) {
	a, _, _ := newTestAdmission(t, 2*time.Second)
	fresh := func(id string) check.Job { return check.Job{CheckID: id, ScheduledAt: at(10)} }
	jobs := []check.Job{fresh("a"), fresh("b"),
		{CheckID: "edge", ScheduledAt: at(8)}, // exactly the bound late
		{CheckID: "late", ScheduledAt: at(7)}, // later than the bound
		fresh("c")}

	// Nothing polled: all pass, the same slice, without a draw.
	a.random = func() float64 { t.Fatal("a draw while everything is admitted"); return 0 }
	got, shed := a.filter(at(10), jobs)
	require.Equal(t, jobs, got)
	require.Zero(t, shed)
	a.random = func() float64 { return 0 } // the lowest draw: admitted at any share above 0

	// Far over the limit: nothing passes, the late tick included (the
	// rounds that catch up after an outage are not filtered at all).
	a.observe(at(9), 1000, 0, nil)
	a.observe(at(10), 1000, 10, nil) // drain 10/s: limit 20
	require.InDelta(t, 0.0, a.admitted(at(10)), 1e-9)
	got, shed = a.filter(at(10), jobs)
	require.Empty(t, got)
	require.Equal(t, 5, shed)
	require.Len(t, jobs, 5, "the claimed batch itself is left alone")
	require.Equal(t, "edge", jobs[2].CheckID)

	// Half admitted: a draw below the share admits, one at it does not.
	a.mu.Lock()
	a.fraction, a.sampledAt = 0.5, at(11)
	a.mu.Unlock()
	draws := []float64{0.49, 0.5, 0.99, 0.0}
	a.random = func() float64 { d := draws[0]; draws = draws[1:]; return d }
	got, shed = a.filter(at(11), []check.Job{fresh("a"), fresh("b"), fresh("c"), fresh("d")})
	require.Equal(t, []string{"a", "d"}, ids(got))
	require.Equal(t, 2, shed)
	require.Empty(t, draws, "one draw per fresh job")
}

func ids(jobs []check.Job) []string {
	out := make([]string, len(jobs))
	for i := range jobs {
		out[i] = jobs[i].CheckID
	}
	return out
}

// TestAdmissionIsFair sheds half of the same 200 checks round after round
// (the same checks fall due together every interval) and requires every
// check to be probed about half the time and never to miss a long run.
func TestAdmissionIsFair(t *testing.T) {
	a, _, _ := newTestAdmission(t, 2*time.Second)
	a.random = rand.New(rand.NewPCG(1, 2)).Float64 // a test's reproducible draws
	const checks, rounds = 200, 400
	admitted := make(map[string]int, checks)
	run := make(map[string]int, checks)
	longest := 0
	jobs := make([]check.Job, checks)
	for i := range jobs {
		jobs[i].CheckID = string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	totalShed := 0
	for r := range rounds {
		now := at(float64(r))
		for i := range jobs {
			jobs[i].ScheduledAt = now
		}
		a.mu.Lock()
		a.fraction, a.sampledAt = 0.5, now
		a.mu.Unlock()
		got, shed := a.filter(now, jobs)
		totalShed += shed
		in := make(map[string]bool, len(got))
		for _, j := range got {
			in[j.CheckID] = true
			admitted[j.CheckID]++
		}
		for _, j := range jobs {
			if in[j.CheckID] {
				run[j.CheckID] = 0
				continue
			}
			run[j.CheckID]++
			longest = max(longest, run[j.CheckID])
		}
	}
	require.InDelta(t, checks*rounds/2, totalShed, checks*rounds*0.02, "about half shed")
	for _, j := range jobs {
		require.InDelta(t, rounds/2, admitted[j.CheckID], rounds*0.15, "check %s", j.CheckID)
	}
	// At one half, missing 20 rounds in a row has odds of one in a million.
	require.Less(t, longest, 20, "no check starves")
}

func TestAdmissionReport(t *testing.T) {
	a, logs, shedCounts := newTestAdmission(t, 2*time.Second)
	a.observe(at(0), 100, 0, nil)
	a.observe(at(1), 100, 5, nil)
	a.shedTicks(at(1), 0)
	require.Empty(t, *shedCounts, "nothing shed, nothing counted")
	a.shedTicks(at(1), 7)
	a.shedTicks(at(2), 5)
	require.Equal(t, []int{7, 5}, *shedCounts)

	a.observe(at(10), 100, 50, nil)
	require.Zero(t, logs.FilterMessageSnippet("overloaded").Len(), "not before 10 s")
	a.observe(at(11), 100, 55, nil)
	lines := logs.FilterMessageSnippet("overloaded").All()
	require.Len(t, lines, 1)
	require.Equal(t, zapcore.WarnLevel, lines[0].Level)
	f := lines[0].ContextMap()
	require.EqualValues(t, 12, f["skipped"])
	require.InDelta(t, 10.0, f["in_last_s"], 1e-9)
	require.EqualValues(t, 100, f["queue_ready"])
	require.InDelta(t, 10.0, f["queue_limit"], 1e-9)
	require.InDelta(t, 5.0, f["drain_per_s"], 1e-9)
	require.InDelta(t, 0.0, f["admitted_share"], 1e-9)

	// Counted afresh: the next line only 10 s after the next shed tick.
	a.observe(at(30), 100, 150, nil)
	require.Equal(t, 1, logs.FilterMessageSnippet("overloaded").Len(), "nothing shed since")
	a.shedTicks(at(31), 3)
	a.observe(at(40), 100, 200, nil)
	require.Equal(t, 1, logs.FilterMessageSnippet("overloaded").Len())
	a.observe(at(41), 100, 205, nil)
	lines = logs.FilterMessageSnippet("overloaded").All()
	require.Len(t, lines, 2)
	require.EqualValues(t, 3, lines[1].ContextMap()["skipped"])

	// flush writes the rest however recent, then nothing.
	a.shedTicks(at(42), 2)
	a.flush()
	lines = logs.FilterMessageSnippet("overloaded").All()
	require.Len(t, lines, 3)
	require.EqualValues(t, 2, lines[2].ContextMap()["skipped"])
	a.flush()
	require.Equal(t, 3, logs.FilterMessageSnippet("overloaded").Len())
}

func TestAdmissionLogsFailedPollsOncePerPeriod(t *testing.T) {
	a, logs, _ := newTestAdmission(t, 2*time.Second)
	boom := errors.New("broker down")
	a.observe(at(0), 0, 0, boom)
	a.observe(at(9.9), 0, 0, boom)
	failed := logs.FilterMessageSnippet("cannot read").All()
	require.Len(t, failed, 1)
	require.Equal(t, zapcore.WarnLevel, failed[0].Level)
	require.EqualValues(t, 1, failed[0].ContextMap()["failed_polls"])
	a.observe(at(10), 0, 0, boom)
	failed = logs.FilterMessageSnippet("cannot read").All()
	require.Len(t, failed, 2)
	require.EqualValues(t, 3, failed[1].ContextMap()["failed_polls"])

	a.observe(at(11), 5, 0, nil)
	back := logs.FilterMessageSnippet("again").All()
	require.Len(t, back, 1)
	require.EqualValues(t, 3, back[0].ContextMap()["failed_polls"])
	a.observe(at(12), 5, 0, nil)
	require.Equal(t, 1, logs.FilterMessageSnippet("again").Len(), "said once")

	// A new failure after the recovery is logged at once.
	a.observe(at(13), 0, 0, boom)
	require.Equal(t, 3, logs.FilterMessageSnippet("cannot read").Len())
}

// TestAdmissionRunPolls drives the poll loop: a poll at start and one per
// pollEvery, a poll that hangs ends at pollTimeout and fails open, and
// the loop ends with its context, flushing its count.
func TestAdmissionRunPolls(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	clock := newManualClock()
	src := &fakeBacklog{}
	a := newAdmission(Config{Backlog: src, Clock: clock, Logger: zap.New(core)}.WithDefaults())
	src.set(1000, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.run(ctx) }()

	<-clock.waits
	require.Equal(t, 1, src.polls())
	src.set(1000, 10, nil)
	clock.advance(pollEvery)
	<-clock.waits
	require.Equal(t, 2, src.polls())
	require.InDelta(t, 0.0, a.admitted(clock.Now()), 1e-9, "drain 10/s: 1000 waiting is overload")

	src.mu.Lock()
	src.block = true
	src.mu.Unlock()
	clock.advance(pollEvery)
	<-clock.waits // after pollTimeout, the poll gave up
	require.InDelta(t, 1.0, a.admitted(clock.Now()), 1e-9, "a hung poll fails open")
	require.Equal(t, 1, logs.FilterMessageSnippet("cannot read").Len())

	a.shedTicks(clock.Now(), 4)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not end with its context")
	}
	require.Equal(t, 1, logs.FilterMessageSnippet("overloaded").Len(), "the count is flushed on the way out")
}

// scriptedClaimer hands publish one batch per claim.
type scriptedClaimer struct {
	jobs []check.Job
}

func (c *scriptedClaimer) ClaimDue(ctx context.Context, _ time.Time, _ int, _ time.Duration, publish func(context.Context, []check.Job, int) error) (int, error) {
	if err := publish(ctx, c.jobs, 0); err != nil {
		return 0, err
	}
	return len(c.jobs), nil
}

func (c *scriptedClaimer) NextDue(context.Context) (time.Time, bool, error) {
	return time.Time{}, false, nil
}

func (c *scriptedClaimer) Behind(context.Context, time.Time) (bool, error) { return false, nil }

type recordingPublisher struct {
	err     error
	batches [][]check.Job
}

func (p *recordingPublisher) PublishJobs(_ context.Context, jobs []check.Job) error {
	p.batches = append(p.batches, jobs)
	return p.err
}

type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time                       { return c.now }
func (c fixedClock) After(time.Duration) <-chan time.Time { return make(chan time.Time) }

func TestDispatchPublishesOnlyTheAdmitted(t *testing.T) {
	now := at(100)
	jobs := []check.Job{{CheckID: "a", ScheduledAt: now}, {CheckID: "b", ScheduledAt: now},
		{CheckID: "old", ScheduledAt: now.Add(-time.Minute)}}
	// newSched returns a scheduler past the outage of its start: not
	// catching up, and a catch-up window after its first good round.
	newSched := func(pub *recordingPublisher, shed *[]int, dispatched *[][]check.Job) *Scheduler {
		s := New(&scriptedClaimer{jobs: jobs}, pub, Config{Clock: fixedClock{now}, Backlog: &fakeBacklog{},
			OnOverload: func(n int) { *shed = append(*shed, n) },
			OnDispatch: func(j []check.Job, _ time.Time) { *dispatched = append(*dispatched, j) }})
		s.rec.outage, s.rec.since, s.rec.admitFrom = false, now.Add(-time.Minute), now.Add(-30*time.Second)
		return s
	}
	overload := func(s *Scheduler) {
		s.adm.observe(now.Add(-time.Second), 1000, 0, nil)
		s.adm.observe(now, 1000, 0, nil) // drain 0: nothing admitted
	}

	t.Run("overloaded", func(t *testing.T) {
		pub := &recordingPublisher{}
		var shed []int
		var dispatched [][]check.Job
		s := newSched(pub, &shed, &dispatched)
		overload(s)
		n, err := s.Dispatch(context.Background())
		require.NoError(t, err)
		require.Equal(t, 3, n, "every claimed tick counts as dispatched: the schedule moved past it")
		require.Empty(t, pub.batches, "the late tick too: the scheduler's own lag, not an outage")
		require.Equal(t, []int{3}, shed)
		require.Empty(t, dispatched)
	})
	t.Run("after an outage everything is published for a catch-up window", func(t *testing.T) {
		for _, tt := range []struct {
			name      string
			outage    bool
			admitFrom time.Time
		}{
			{"while catching up", true, time.Time{}},
			{"caught up, inside the window", false, now.Add(time.Nanosecond)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				pub := &recordingPublisher{}
				var shed []int
				var dispatched [][]check.Job
				s := newSched(pub, &shed, &dispatched)
				s.rec.outage, s.rec.admitFrom = tt.outage, tt.admitFrom
				overload(s)
				_, err := s.Dispatch(context.Background())
				require.NoError(t, err)
				require.Equal(t, [][]check.Job{jobs}, pub.batches)
				require.Empty(t, shed)
			})
		}
	})
	t.Run("the window starts at the first good round", func(t *testing.T) {
		pub := &recordingPublisher{}
		s := New(&scriptedClaimer{jobs: jobs[:2]}, pub, Config{Clock: fixedClock{now}, Backlog: &fakeBacklog{}, CatchUp: 20 * time.Second})
		_, err := s.Dispatch(context.Background())
		require.NoError(t, err)
		require.False(t, s.rec.outage, "nothing late: caught up")
		require.True(t, s.rec.admitFrom.IsZero(), "the start holds admission back only while catching up")

		pub.err = errors.New("broker down")
		_, err = s.Dispatch(context.Background())
		require.Error(t, err)
		pub.err = nil
		_, err = s.Dispatch(context.Background())
		require.NoError(t, err)
		require.False(t, s.rec.outage)
		require.Equal(t, now.Add(20*time.Second), s.rec.admitFrom, "an outage seen while running: a window")
	})
	t.Run("everything shed publishes nothing", func(t *testing.T) {
		pub := &recordingPublisher{}
		var shed []int
		var dispatched [][]check.Job
		s := newSched(pub, &shed, &dispatched)
		s.claimer = &scriptedClaimer{jobs: jobs[:2]}
		overload(s)
		_, err := s.Dispatch(context.Background())
		require.NoError(t, err)
		require.Empty(t, pub.batches)
		require.Empty(t, dispatched)
		require.Equal(t, []int{2}, shed)
	})
	t.Run("failed publish counts nothing", func(t *testing.T) {
		pub := &recordingPublisher{err: errors.New("nacked")}
		var shed []int
		var dispatched [][]check.Job
		s := newSched(pub, &shed, &dispatched)
		s.adm.observe(now.Add(-time.Second), 1000, 0, nil)
		s.adm.observe(now, 1000, 1000, nil) // drain 1000/s: limit 2000, all admitted
		_, err := s.Dispatch(context.Background())
		require.Error(t, err)
		require.Empty(t, shed, "the claim rolls back: the ticks are claimed again")
		require.Empty(t, dispatched)
		require.True(t, s.rec.outage, "a failed publish is an outage")
	})
	t.Run("not overloaded", func(t *testing.T) {
		pub := &recordingPublisher{}
		var shed []int
		var dispatched [][]check.Job
		s := newSched(pub, &shed, &dispatched)
		_, err := s.Dispatch(context.Background())
		require.NoError(t, err)
		require.Equal(t, [][]check.Job{jobs}, pub.batches)
		require.Empty(t, shed)
	})
}

// TestRunPollsTheBacklog: Run starts the poller and stops it on its way
// out, and a scheduler without admission control never polls.
func TestRunPollsTheBacklog(t *testing.T) {
	src := &fakeBacklog{}
	clock := newManualClock()
	s := New(&scriptedClaimer{}, &recordingPublisher{}, Config{Clock: clock, Backlog: src, MaxIdle: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, func() bool { return src.polls() >= 1 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end")
	}

	off := &fakeBacklog{}
	s = New(&scriptedClaimer{}, &recordingPublisher{}, Config{Clock: newManualClock(), Backlog: off, MaxQueueLag: -1})
	require.Nil(t, s.adm)
	require.Zero(t, off.polls())
}

// TestAdmissionReportRoundsTheShare: the report gives the admitted share
// to two decimals.
func TestAdmissionReportRoundsTheShare(t *testing.T) {
	a, logs, _ := newTestAdmission(t, 2*time.Second)
	a.fraction, a.shed, a.shedSince = 0.3749, 3, at(0)
	a.report(at(20), 7, true)
	lines := logs.FilterMessageSnippet("overloaded").All()
	require.Len(t, lines, 1)
	require.InDelta(t, 0.37, lines[0].ContextMap()["admitted_share"], 1e-9)
}
