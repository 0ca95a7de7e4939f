package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/scheduler"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fakeRegistry claims like the store does: due rows in tick order, schedule
// advanced only when publish succeeds.
type fakeRegistry struct {
	mu     sync.Mutex
	checks map[string]*check.Check
	next   map[string]time.Time
	claims int
	err    error
	// locked are checks another scheduler's claim holds: ClaimDue skips
	// them, as the store's FOR UPDATE SKIP LOCKED does; Behind sees them.
	locked map[string]bool
}

func newRegistry(n int, interval time.Duration) *fakeRegistry {
	r := &fakeRegistry{checks: map[string]*check.Check{}, next: map[string]time.Time{}}
	for i := range n {
		c := &check.Check{ID: fmt.Sprintf("c%03d", i), Name: fmt.Sprintf("svc-%d", i), Interval: interval, Timeout: time.Second}
		r.checks[c.ID] = c
		r.next[c.ID] = check.FirstTick(c.ID, t0, interval)
	}
	return r
}

func (r *fakeRegistry) ClaimDue(ctx context.Context, now time.Time, limit int, catchUp time.Duration, publish func(context.Context, []check.Job, int) error) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claims++
	if r.err != nil {
		return 0, r.err
	}
	var due []string
	for id, t := range r.next {
		if !t.After(now) && !r.locked[id] {
			due = append(due, id)
		}
	}
	sort.Slice(due, func(i, j int) bool { return r.next[due[i]].Before(r.next[due[j]]) })
	if len(due) > limit {
		due = due[:limit]
	}
	if len(due) == 0 {
		return 0, nil
	}
	jobs := make([]check.Job, len(due))
	nexts := make([]time.Time, len(due))
	skipped := 0
	for i, id := range due {
		tick, next := check.NextTick(r.next[id], now, r.checks[id].Interval, catchUp)
		jobs[i], nexts[i] = check.JobFor(r.checks[id], tick), next
		skipped += check.Skipped(r.next[id], tick, r.checks[id].Interval)
	}
	if err := publish(ctx, jobs, skipped); err != nil {
		return 0, err
	}
	for i, id := range due {
		r.next[id] = nexts[i]
	}
	return len(jobs), nil
}

func (r *fakeRegistry) NextDue(context.Context) (time.Time, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var earliest time.Time
	for _, t := range r.next {
		if earliest.IsZero() || t.Before(earliest) {
			earliest = t
		}
	}
	return earliest, !earliest.IsZero(), nil
}

func (r *fakeRegistry) Behind(_ context.Context, now time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, t := range r.next {
		if now.Sub(t) >= max(r.checks[id].Interval, check.MinInterval) {
			return true, nil
		}
	}
	return false, nil
}

type fakePublisher struct {
	mu       sync.Mutex
	jobs     []check.Job
	failures int // fail this many calls first
	calls    int
}

func (p *fakePublisher) PublishJobs(_ context.Context, jobs []check.Job) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.failures > 0 {
		p.failures--
		return errors.New("broker unavailable")
	}
	p.jobs = append(p.jobs, jobs...)
	return nil
}

func (p *fakePublisher) published() []check.Job {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]check.Job(nil), p.jobs...)
}

// fakeClock lets the test play the scheduler's sleeps: each After call is
// reported on sleeps, and the test moves time and fires it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps chan sleep
}

type sleep struct {
	d    time.Duration
	wake chan time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0, sleeps: make(chan sleep, 1)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.sleeps <- sleep{d, ch}
	return ch
}

// step waits for the scheduler to sleep, advances the clock by the sleep
// and wakes it; it returns the sleep length.
func (c *fakeClock) step(t *testing.T) time.Duration {
	t.Helper()
	select {
	case s := <-c.sleeps:
		c.mu.Lock()
		c.now = c.now.Add(s.d)
		now := c.now
		c.mu.Unlock()
		s.wake <- now
		return s.d
	case <-time.After(5 * time.Second):
		t.Fatal("scheduler did not sleep")
		return 0
	}
}

// stepLate is step with the scheduler waking late longer than it slept,
// as a process that was stopped for that long does.
func (c *fakeClock) stepLate(t *testing.T, late time.Duration) {
	t.Helper()
	select {
	case s := <-c.sleeps:
		c.mu.Lock()
		c.now = c.now.Add(s.d + late)
		now := c.now
		c.mu.Unlock()
		s.wake <- now
	case <-time.After(5 * time.Second):
		t.Fatal("scheduler did not sleep")
	}
}

func run(t *testing.T, s *scheduler.Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

func TestDispatchDrainsEverythingDueInBatches(t *testing.T) {
	reg := newRegistry(7, 10*time.Second)
	pub := &fakePublisher{}
	clk := newClock()
	clk.now = t0.Add(10 * time.Second)
	var batches []int
	s := scheduler.New(reg, pub, scheduler.Config{BatchSize: 3, Parallel: 1, Clock: clk,
		OnDispatch: func(jobs []check.Job, _ time.Time) { batches = append(batches, len(jobs)) }})
	n, err := s.Dispatch(context.Background())
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.Equal(t, []int{3, 3, 1}, batches)
	require.Len(t, pub.published(), 7)
}

// Over ten simulated minutes every check is dispatched once per interval,
// exactly on its grid, and never twice for one tick.
func TestRunKeepsEveryCheckOnItsGrid(t *testing.T) {
	const interval = 10 * time.Second
	reg := newRegistry(50, interval)
	pub := &fakePublisher{}
	clk := newClock()
	stop := run(t, scheduler.New(reg, pub, scheduler.Config{BatchSize: 20, Clock: clk, MaxIdle: time.Second}))
	for clk.Now().Before(t0.Add(10 * time.Minute)) {
		clk.step(t)
	}
	stop()

	ticks := map[string][]time.Time{}
	for _, j := range pub.published() {
		ticks[j.CheckID] = append(ticks[j.CheckID], j.ScheduledAt)
	}
	require.Len(t, ticks, 50)
	for id, ts := range ticks {
		require.GreaterOrEqual(t, len(ts), 59, id)
		first := check.FirstTick(id, t0, interval)
		for i, at := range ts {
			require.Equal(t, first.Add(time.Duration(i)*interval), at, "%s tick %d", id, i)
		}
	}
}

func TestRunSleepsUntilTheNextTick(t *testing.T) {
	reg := newRegistry(1, 10*time.Second)
	pub := &fakePublisher{}
	clk := newClock()
	stop := run(t, scheduler.New(reg, pub, scheduler.Config{Clock: clk, MaxIdle: time.Minute}))
	due := reg.next["c000"]
	require.Equal(t, due.Sub(t0), clk.step(t), "sleeps exactly until the tick")
	require.Equal(t, 10*time.Second, clk.step(t), "then one interval")
	// The second tick is published after the wake-up step returns; a stop
	// right away would race it (Run's select may see the cancel first).
	require.Eventually(t, func() bool { return len(pub.published()) == 2 }, 5*time.Second, time.Millisecond)
	stop()
	require.Len(t, pub.published(), 2)
}

func TestRunRetriesAfterPublishFailures(t *testing.T) {
	reg := newRegistry(3, 10*time.Second)
	pub := &fakePublisher{failures: 3}
	clk := newClock()
	clk.now = t0.Add(10 * time.Second)
	stop := run(t, scheduler.New(reg, pub, scheduler.Config{Clock: clk, MaxBackoff: time.Second, MaxIdle: time.Second, Parallel: 1}))
	var waits []time.Duration
	for range 4 {
		waits = append(waits, clk.step(t))
	}
	stop()
	for _, w := range waits[:3] {
		require.Positive(t, w)
		require.LessOrEqual(t, w, time.Second, "backoff is capped")
	}
	jobs := pub.published()
	require.Len(t, jobs, 3, "the ticks that failed to publish are dispatched once it recovers")
	for _, j := range jobs {
		require.Equal(t, check.FirstTick(j.CheckID, t0, 10*time.Second), j.ScheduledAt, "the original tick, not a later one")
	}
}

func TestRunSurvivesClaimErrors(t *testing.T) {
	reg := newRegistry(1, 10*time.Second)
	reg.err = errors.New("database down")
	clk := newClock()
	stop := run(t, scheduler.New(reg, &fakePublisher{}, scheduler.Config{Clock: clk}))
	for range 5 {
		clk.step(t)
	}
	stop()
	require.GreaterOrEqual(t, reg.claims, 5)
}

func TestNewAppliesDefaults(t *testing.T) {
	reg := newRegistry(600, 10*time.Second)
	pub := &fakePublisher{}
	s := scheduler.New(reg, pub, scheduler.Config{})
	// With the real clock every first tick is in the past relative to
	// t0+interval only; move them all to the past instead.
	for id := range reg.next {
		reg.next[id] = time.Now().Add(-time.Second)
	}
	n, err := s.Dispatch(context.Background())
	require.NoError(t, err)
	require.Equal(t, 600, n)
	require.Len(t, pub.published(), 600)
	require.GreaterOrEqual(t, pub.calls, 2, "default batch of 500")
}

// blockingPublisher waits for its context, like a publisher whose broker
// is gone.
type blockingPublisher struct{}

func (blockingPublisher) PublishJobs(ctx context.Context, _ []check.Job) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestPublishTimeoutReleasesTheClaim(t *testing.T) {
	reg := newRegistry(1, 10*time.Second)
	clk := newClock()
	clk.now = t0.Add(10 * time.Second)
	s := scheduler.New(reg, blockingPublisher{}, scheduler.Config{Clock: clk, PublishTimeout: 50 * time.Millisecond})
	_, err := s.Dispatch(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, check.FirstTick("c000", t0, 10*time.Second), reg.next["c000"], "nothing advanced")
}

// A broker outage shorter than the catch-up window leaves no gap: every
// tick of every check is dispatched exactly once, some of them late.
func TestOutageWithinCatchUpLeavesNoGap(t *testing.T) {
	const interval = 2 * time.Second
	reg := newRegistry(20, interval)
	pub := &fakePublisher{}
	clk := newClock()
	stop := run(t, scheduler.New(reg, pub, scheduler.Config{Clock: clk, MaxIdle: 500 * time.Millisecond,
		MaxBackoff: time.Second, CatchUp: 30 * time.Second}))
	for clk.Now().Before(t0.Add(10 * time.Second)) {
		clk.step(t)
	}
	pub.mu.Lock()
	pub.failures = 1 << 30 // the broker goes away for ~15s
	pub.mu.Unlock()
	for clk.Now().Before(t0.Add(25 * time.Second)) {
		clk.step(t)
	}
	pub.mu.Lock()
	pub.failures = 0
	pub.mu.Unlock()
	for clk.Now().Before(t0.Add(40 * time.Second)) {
		clk.step(t)
	}
	stop()
	ticks := map[string]map[time.Time]int{}
	for _, j := range pub.published() {
		if ticks[j.CheckID] == nil {
			ticks[j.CheckID] = map[time.Time]int{}
		}
		ticks[j.CheckID][j.ScheduledAt]++
	}
	for id, seen := range ticks {
		first := check.FirstTick(id, t0, interval)
		for at := first; at.Before(t0.Add(38 * time.Second)); at = at.Add(interval) {
			require.Equal(t, 1, seen[at], "%s tick %s", id, at.Sub(t0))
		}
	}
}

// Parallel dispatchers claim disjoint batches: every due tick is published
// exactly once however many run.
func TestParallelDispatchPublishesEachTickOnce(t *testing.T) {
	reg := newRegistry(1000, 10*time.Second)
	pub := &fakePublisher{}
	clk := newClock()
	clk.now = t0.Add(10 * time.Second)
	s := scheduler.New(reg, pub, scheduler.Config{BatchSize: 7, Parallel: 8, Clock: clk})
	n, err := s.Dispatch(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1000, n)
	seen := map[string]int{}
	for _, j := range pub.published() {
		seen[j.CheckID]++
	}
	require.Len(t, seen, 1000)
	for id, c := range seen {
		require.Equal(t, 1, c, id)
	}
}

// cancellingPublisher cancels the scheduler's context while a batch is
// being published, like a SIGTERM arriving mid-publish.
type cancellingPublisher struct {
	fakePublisher
	cancel func()
	sawErr error
}

func (p *cancellingPublisher) PublishJobs(ctx context.Context, jobs []check.Job) error {
	p.cancel()
	time.Sleep(10 * time.Millisecond)
	p.sawErr = ctx.Err()
	if p.sawErr != nil {
		return p.sawErr
	}
	return p.fakePublisher.PublishJobs(ctx, jobs)
}

func TestShutdownDuringPublishFinishesTheBatch(t *testing.T) {
	reg := newRegistry(3, 10*time.Second)
	clk := newClock()
	clk.now = t0.Add(10 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	pub := &cancellingPublisher{cancel: cancel}
	s := scheduler.New(reg, pub, scheduler.Config{Clock: clk, Parallel: 1})
	n, err := s.Dispatch(ctx)
	require.NoError(t, pub.sawErr, "the publish is not cut short by shutdown")
	require.NoError(t, err)
	require.Equal(t, 3, n)
	for id := range reg.checks {
		require.Equal(t, check.FirstTick(id, t0, 10*time.Second).Add(10*time.Second), reg.next[id],
			"the claim is committed, so the published ticks are not due again")
	}
}

// A round whose first claim comes back short is one transaction, however
// many claims could run in parallel: claims that find nothing still cost
// the database a transaction each.
func TestDispatchClaimsOnceWhenTheFirstBatchIsShort(t *testing.T) {
	reg := newRegistry(10, 10*time.Second)
	clk := newClock()
	clk.now = t0.Add(20 * time.Second)
	s := scheduler.New(reg, &fakePublisher{}, scheduler.Config{BatchSize: 50, Parallel: 4, Clock: clk})
	n, err := s.Dispatch(context.Background())
	require.NoError(t, err)
	require.Equal(t, 10, n)
	require.Equal(t, 1, reg.claims)

	// A full first batch fans out: every parallel claimer drains once more.
	reg = newRegistry(120, 10*time.Second)
	clk.now = t0.Add(10 * time.Second) // one tick due per check
	s = scheduler.New(reg, &fakePublisher{}, scheduler.Config{BatchSize: 50, Parallel: 4, Clock: clk})
	n, err = s.Dispatch(context.Background())
	require.NoError(t, err)
	require.Equal(t, 120, n)
	require.Equal(t, 1+4+1, reg.claims, "the first claim, one per claimer, and the full one's follow-up")
}

// Between two rounds the loop waits at least the resolution, even when a
// tick falls due sooner, so that ticks due close together share a claim.
func TestRunWaitsTheResolutionBetweenRounds(t *testing.T) {
	reg := newRegistry(1000, 10*time.Second) // a tick due every ~10 ms
	clk := newClock()
	pub := &fakePublisher{}
	stop := run(t, scheduler.New(reg, pub, scheduler.Config{Clock: clk, Resolution: 100 * time.Millisecond}))
	defer stop()
	for range 20 {
		require.Equal(t, 100*time.Millisecond, clk.step(t))
	}
	// 20 rounds of 100 ms cover two seconds of the grid: about 200 ticks,
	// in batches of about ten.
	jobs := pub.published()
	require.InDelta(t, 200, len(jobs), 20)
	reg.mu.Lock()
	claims := reg.claims
	reg.mu.Unlock()
	require.LessOrEqual(t, claims, 21)

	// Negative resolution: the loop sleeps only until the next tick.
	reg2 := newRegistry(1000, 10*time.Second)
	clk2 := newClock()
	stop2 := run(t, scheduler.New(reg2, &fakePublisher{}, scheduler.Config{Clock: clk2, Resolution: -1}))
	defer stop2()
	require.Less(t, clk2.step(t), 100*time.Millisecond)
}

// LabelJobs sees every claimed job before it is published, so the labels
// it sets reach the broker.
func TestLabelJobsLabelsWhatIsPublished(t *testing.T) {
	reg := newRegistry(4, 10*time.Second)
	pub := &fakePublisher{}
	clk := newClock()
	clk.now = t0.Add(10 * time.Second)
	s := scheduler.New(reg, pub, scheduler.Config{BatchSize: 3, Parallel: 1, Clock: clk,
		LabelJobs: func(jobs []check.Job) {
			for i := range jobs {
				jobs[i].MetricLabels = []check.MetricLabel{{Name: "namespace", Value: "ns-" + jobs[i].CheckID}}
			}
		}})
	n, err := s.Dispatch(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4, n)
	for _, j := range pub.published() {
		require.Equal(t, []check.MetricLabel{{Name: "namespace", Value: "ns-" + j.CheckID}}, j.MetricLabels)
	}
}
