package scheduler_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/scheduler"
)

// skips records Config.OnSkipped's calls by reason.
type skips struct {
	mu sync.Mutex
	by map[string]int
}

func (s *skips) add(reason string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[string]int{}
	}
	s.by[reason] += n
}

func (s *skips) get() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.by)
}

// ticksOf returns each published tick of id, in order, as offsets from t0.
func ticksOf(pub *fakePublisher, id string) []time.Duration {
	var out []time.Duration
	for _, j := range pub.published() {
		if j.CheckID == id {
			out = append(out, j.ScheduledAt.Sub(t0))
		}
	}
	return out
}

// dispatchAt runs one round at now.
func dispatchAt(t *testing.T, s *scheduler.Scheduler, clk *fakeClock, now time.Time) {
	t.Helper()
	clk.mu.Lock()
	clk.now = now
	clk.mu.Unlock()
	_, err := s.Dispatch(context.Background())
	require.NoError(t, err)
}

// A scheduler that falls behind with no outage seen is short of CPU or
// database: it dispatches only each check's newest tick and counts the
// ones it passes over as "behind", rather than every missed tick, which
// would multiply the work it already cannot do.
func TestBehindWithoutAnOutageDispatchesOnlyTheNewestTick(t *testing.T) {
	const interval = 10 * time.Second
	reg := newRegistry(1, interval)
	pub := &fakePublisher{}
	clk := newClock()
	var sk skips
	s := scheduler.New(reg, pub, scheduler.Config{Clock: clk, OnSkipped: sk.add})
	first := check.FirstTick("c000", t0, interval)

	// The first round is the start's catch-up; it finds nothing late, so
	// the start's outage is over.
	dispatchAt(t, s, clk, first)
	// The next round comes 35 s late: no failure, no reconnect, no pause
	// of the loop (Dispatch is called directly), so the scheduler itself
	// was behind.
	dispatchAt(t, s, clk, first.Add(interval+35*time.Second))
	require.Equal(t, []time.Duration{first.Sub(t0), first.Sub(t0) + 4*interval}, ticksOf(pub, "c000"),
		"the newest grid point, not the oldest within the catch-up window")
	require.Equal(t, 3, sk.get()[scheduler.SkippedBehind], "three ticks passed over")
	require.Zero(t, sk.get()[scheduler.SkippedOutage])
}

// After a failed claim or publish the scheduler catches up, one tick per
// check per round, until a round finds nothing late; ticks older than
// the catch-up window count as "outage".
func TestAfterAFailureEveryTickWithinCatchUpIsDispatched(t *testing.T) {
	const interval = time.Second
	reg := newRegistry(1, interval)
	first := reg.next["c000"]
	pub := &fakePublisher{}
	clk := newClock()
	var sk skips
	s := scheduler.New(reg, pub, scheduler.Config{Clock: clk, CatchUp: 5 * time.Second, OnSkipped: sk.add})
	dispatchAt(t, s, clk, first)

	pub.failures = 1
	clk.now = first.Add(8 * time.Second)
	_, err := s.Dispatch(context.Background())
	require.Error(t, err)
	for i := range 7 {
		dispatchAt(t, s, clk, first.Add(8*time.Second+time.Duration(i)*time.Millisecond))
	}
	require.Equal(t, []time.Duration{0, 3, 4, 5, 6, 7, 8}, secondsAfter(ticksOf(pub, "c000"), first.Sub(t0)),
		"ticks 1 and 2 are older than the 5 s window; 3 to 8 are all dispatched")
	require.Equal(t, map[string]int{scheduler.SkippedOutage: 2}, sk.get())

	// Caught up: the next late round is the scheduler's own lag again.
	dispatchAt(t, s, clk, first.Add(12*time.Second))
	require.Equal(t, 12*time.Second, ticksOf(pub, "c000")[7]-first.Sub(t0))
	require.Equal(t, 3, sk.get()[scheduler.SkippedBehind])
}

func secondsAfter(ds []time.Duration, base time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = (d - base) / time.Second
	}
	return out
}

// sessionPublisher is a publisher that reports its broker sessions, as
// queue.PublisherPool does.
type sessionPublisher struct {
	fakePublisher
	mu       sync.Mutex
	sessions uint64
}

func (p *sessionPublisher) Sessions() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions
}

// A broker that went away and came back while the publishes waited for it
// (none failed) is an outage all the same: the publisher's session count
// moved, and the ticks the stall held back are all dispatched.
func TestABrokerReconnectCatchesUp(t *testing.T) {
	const interval = time.Second
	reg := newRegistry(1, interval)
	first := reg.next["c000"]
	pub := &sessionPublisher{sessions: 1}
	clk := newClock()
	s := scheduler.New(reg, pub, scheduler.Config{Clock: clk})
	dispatchAt(t, s, clk, first)

	// Four seconds pass in a stalled publish, then the next round.
	pub.mu.Lock()
	pub.sessions++
	pub.mu.Unlock()
	for i := range 4 {
		dispatchAt(t, s, clk, first.Add(4*time.Second+time.Duration(i)*time.Millisecond))
	}
	require.Equal(t, []time.Duration{0, 1, 2, 3, 4}, secondsAfter(ticksOf(&pub.fakePublisher, "c000"), first.Sub(t0)))

	// Without a reconnect the same stall dispatches only the newest tick.
	dispatchAt(t, s, clk, first.Add(8*time.Second))
	require.Equal(t, []time.Duration{0, 1, 2, 3, 4, 8}, secondsAfter(ticksOf(&pub.fakePublisher, "c000"), first.Sub(t0)))
}

// With several schedulers, a catching-up round can find nothing late only
// because another scheduler holds the late checks locked in its claim.
// Catching up then goes on while any check is still an interval behind;
// had it ended, the next round would pass over the ticks that other
// scheduler had not reached yet (the fault suite lost 1,500 ticks so: three
// claims of 500 checks, one tick each).
func TestCatchingUpOutlastsLateChecksAnotherSchedulerHolds(t *testing.T) {
	const interval = time.Second
	reg := newRegistry(2, interval)
	first := reg.next["c000"]
	reg.next["c001"] = first
	pub := &fakePublisher{}
	clk := newClock()
	var sk skips
	s := scheduler.New(reg, pub, scheduler.Config{Clock: clk, CatchUp: 10 * time.Second, OnSkipped: sk.add})
	dispatchAt(t, s, clk, first)

	pub.failures = 1
	clk.now = first.Add(3 * time.Second)
	_, err := s.Dispatch(context.Background())
	require.Error(t, err)
	// The other scheduler has c001 locked while this one catches c000 up;
	// the third round finds nothing late.
	reg.mu.Lock()
	reg.locked = map[string]bool{"c001": true}
	reg.mu.Unlock()
	for i := range 3 {
		dispatchAt(t, s, clk, first.Add(3*time.Second+time.Duration(i)*time.Millisecond))
	}
	require.Equal(t, []time.Duration{0, 1, 2, 3}, secondsAfter(ticksOf(pub, "c000"), first.Sub(t0)))
	// The lock is gone and c001 is still two ticks behind: both are
	// dispatched, none passed over.
	reg.mu.Lock()
	reg.locked = nil
	reg.mu.Unlock()
	for i := range 3 {
		dispatchAt(t, s, clk, first.Add(3*time.Second+time.Duration(3+i)*time.Millisecond))
	}
	require.Equal(t, []time.Duration{0, 1, 2, 3}, secondsAfter(ticksOf(pub, "c001"), first.Sub(t0)))
	require.Empty(t, sk.get())

	// Caught up, with nothing behind: a late round is the scheduler's own
	// lag again and dispatches only the newest tick.
	dispatchAt(t, s, clk, first.Add(7*time.Second))
	require.Equal(t, []time.Duration{0, 1, 2, 3, 7}, secondsAfter(ticksOf(pub, "c001"), first.Sub(t0)))
	require.Equal(t, 6, sk.get()[scheduler.SkippedBehind], "ticks 4 to 6 of both checks")
}

// A failed read of whether checks are behind keeps catching up: the
// window bounds it anyway.
func TestCatchingUpGoesOnWhenBehindCannotBeRead(t *testing.T) {
	const interval = time.Second
	reg := &unreadableBehind{fakeRegistry: newRegistry(1, interval)}
	first := reg.next["c000"]
	pub := &fakePublisher{}
	clk := newClock()
	var sk skips
	s := scheduler.New(reg, pub, scheduler.Config{Clock: clk, CatchUp: 10 * time.Second, OnSkipped: sk.add})
	dispatchAt(t, s, clk, first)
	dispatchAt(t, s, clk, first.Add(4*time.Second))
	require.Equal(t, []time.Duration{0, 1}, secondsAfter(ticksOf(pub, "c000"), first.Sub(t0)),
		"still the start's catch-up: the first round could not tell it was done")
	require.Empty(t, sk.get())
}

type unreadableBehind struct{ *fakeRegistry }

func (unreadableBehind) Behind(context.Context, time.Time) (bool, error) {
	return false, errors.New("database unavailable")
}

// Catching up ends one catch-up window after the outage even while late
// ticks remain: by then what is late is the scheduler's own lag, and
// catching it up would keep it behind for good.
func TestCatchingUpEndsAfterTheWindow(t *testing.T) {
	const interval = time.Second
	reg := newRegistry(1, interval)
	first := reg.next["c000"]
	pub := &fakePublisher{}
	clk := newClock()
	core, logs := observer.New(zap.WarnLevel)
	var sk skips
	s := scheduler.New(reg, pub, scheduler.Config{Clock: clk, CatchUp: 10 * time.Second, OnSkipped: sk.add, Logger: zap.New(core)})

	// A start 5 s behind, and rounds that never catch up: each one
	// dispatches a late tick.
	dispatchAt(t, s, clk, first.Add(5*time.Second))  // tick 0, late: the window starts
	dispatchAt(t, s, clk, first.Add(10*time.Second)) // tick 1, 5 s into the window
	dispatchAt(t, s, clk, first.Add(16*time.Second)) // tick 6 (2-5 out of the window), 11 s in: ends
	require.Empty(t, sk.get()[scheduler.SkippedBehind])
	require.Len(t, logs.FilterMessageSnippet("still behind").All(), 1)
	dispatchAt(t, s, clk, first.Add(20*time.Second)) // newest only
	require.Equal(t, []time.Duration{0, 1, 6, 20}, secondsAfter(ticksOf(pub, "c000"), first.Sub(t0)))
	require.Equal(t, map[string]int{scheduler.SkippedOutage: 4, scheduler.SkippedBehind: 13}, sk.get())
}

// A loop that wakes a second or more later than it meant to was not
// running (a stopped process, a suspended VM): an outage to catch up.
func TestRunCatchesUpAfterAPause(t *testing.T) {
	const interval = time.Second
	reg := newRegistry(1, interval)
	first := reg.next["c000"]
	pub := &fakePublisher{}
	clk := newClock()
	stop := run(t, scheduler.New(reg, pub, scheduler.Config{Clock: clk, MaxIdle: 500 * time.Millisecond}))
	for clk.Now().Before(first.Add(3 * time.Second)) {
		clk.step(t)
	}
	clk.stepLate(t, 5*time.Second)
	for clk.Now().Before(first.Add(12 * time.Second)) {
		clk.step(t)
	}
	stop()
	got := secondsAfter(ticksOf(pub, "c000"), first.Sub(t0))
	for i, d := range got {
		require.Equal(t, time.Duration(i), d, "every tick once, in order: %v", got)
	}
	require.GreaterOrEqual(t, len(got), 11)
}
