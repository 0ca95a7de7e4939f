// Package scheduler turns the registry's due rows into probe jobs on the
// broker. It is stateless - every replica runs the same loop and the
// database's row locks divide the work - and it never waits on a probe:
// its only work per tick is a claim, a publish and a commit.
package scheduler

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/backoff"
	"github.com/vigil-dev/vigil/internal/check"
)

// Claimer claims due checks; *store.Store implements it.
type Claimer interface {
	// ClaimDue claims up to limit due checks, calls publish with their jobs
	// and the number of grid points it passed over without a job (ticks
	// missed by more than catchUp), and advances their schedule only when
	// publish succeeds.
	ClaimDue(ctx context.Context, now time.Time, limit int, catchUp time.Duration, publish func(ctx context.Context, jobs []check.Job, skipped int) error) (int, error)
	// NextDue returns the earliest scheduled tick, or false when none.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// Behind reports whether any check's next tick is its interval or more
	// before now: a tick that a round which does not catch up would pass
	// over. It reads the committed schedule, so it also sees the checks
	// another scheduler holds locked in a claim.
	Behind(ctx context.Context, now time.Time) (bool, error)
}

// Publisher hands jobs to the broker and returns once it has confirmed
// them all.
type Publisher interface {
	PublishJobs(ctx context.Context, jobs []check.Job) error
}

// sessionCounter is what a Publisher may also offer: how many broker
// sessions it has opened. *queue.PublisherPool offers it. A count that
// moved between two rounds means the broker connection was lost and
// regained meanwhile - an outage the publishes may have waited out
// without failing - so the next round catches up.
type sessionCounter interface {
	Sessions() uint64
}

// Why a claim passed over a tick without publishing it: the reason label
// of vigil_ticks_missed_total (see Config.OnSkipped).
const (
	// SkippedOutage: after an outage the scheduler saw, the tick was
	// older than the catch-up window.
	SkippedOutage = "outage"
	// SkippedBehind: with no outage seen, the scheduler reached the
	// check more than an interval after the tick, so it fell behind (too
	// little CPU or database for the schedule) and dispatched only the
	// check's newest tick.
	SkippedBehind = "behind"
)

// Clock is the scheduler's view of time, replaced by a fake in tests.
type Clock interface {
	Now() time.Time
	// After is time.After: a channel that fires once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of Config's fields, which config.Defaults offers as settings.
const (
	// DefaultBatchSize bounds a claim transaction: large enough that a
	// claim's fixed cost is shared by many jobs, small enough that its
	// row locks and its publish stay short.
	DefaultBatchSize = 500
	// DefaultParallel overlaps enough claim transactions to hide the
	// broker's confirm round trip (see Config.Parallel).
	DefaultParallel = 4
	// DefaultCatchUp covers the outages Vigil is built to ride out - a
	// broker or database restart, a failover, a rolling upgrade of every
	// server - without a gap in any check's history, while bounding the
	// burst a long outage could cause.
	DefaultCatchUp = 30 * time.Second
	// DefaultResolution keeps the added dispatch delay well inside the
	// lag a user would notice while gathering a busy schedule into few
	// claims (docs/benchmarks.md has the figures).
	DefaultResolution     = 50 * time.Millisecond
	DefaultMaxIdle        = 200 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultPublishTimeout = 10 * time.Second
	// DefaultMaxQueueLag bounds how late admission control lets the
	// queue make a probed tick: a few seconds is on time for the intervals
	// checks use (10 s and up, typically), and the bound still holds a
	// couple of depth polls (one a second) and the bursts of a busy
	// round, so load the workers can take is never shed. See
	// docs/architecture.md, "Admission control".
	DefaultMaxQueueLag = 2 * time.Second
	// MinMaxQueueLag is the shortest MaxQueueLag a setting may ask for:
	// the depth is polled once a second, so a shorter bound could not be
	// held.
	MinMaxQueueLag = pollEvery
)

// Config tunes the loop. Zero values take the defaults (see WithDefaults).
type Config struct {
	// BatchSize bounds the jobs claimed and published per transaction.
	BatchSize int
	// Parallel is how many claim-publish-commit transactions run at once.
	// Row locks (SKIP LOCKED) keep them disjoint, and overlapping them hides
	// the broker's confirm round trip, which otherwise caps one scheduler
	// at a few thousand jobs a second.
	Parallel int
	// CatchUp is how late a missed tick may still be dispatched after an
	// outage the scheduler saw: its own start, a failed claim or publish,
	// a broker reconnect, or a pause of the process longer than
	// pauseAfter. Older missed ticks are skipped. Without such an outage
	// a scheduler that falls behind is overloaded, and catching up would
	// multiply its work; it then dispatches only each late check's newest
	// tick (see Dispatch). Zero takes the default; negative skips every
	// missed tick.
	CatchUp time.Duration
	// MaxIdle bounds how long the loop sleeps when nothing is due, which is
	// how soon a check registered through another replica is noticed.
	MaxIdle time.Duration
	// Resolution is the shortest time between two dispatch rounds. Ticks
	// fall due one after another (phases are spread over the interval), so
	// a loop that woke for each would claim a handful per transaction, and
	// a claim's fixed cost in PostgreSQL (about 1.5 ms of CPU) would
	// dominate. Waiting this long gathers every tick due meanwhile into one
	// claim, at the price of dispatching a tick up to Resolution late.
	// Zero takes the default; negative means none.
	Resolution time.Duration
	// MaxBackoff caps the wait between attempts after an error.
	MaxBackoff time.Duration
	// PublishTimeout bounds one batch's publish and confirms. The claimed
	// rows stay locked meanwhile, so a broker that is down must fail the
	// claim quickly rather than hold the locks until it comes back.
	PublishTimeout time.Duration
	// Backlog, when set, turns on admission control: the scheduler polls
	// the jobs queue's depth and, when the ready messages are more than
	// the workers drain in MaxQueueLag, publishes only a share of the
	// fresh ticks (chosen at random, so no check misses more often than
	// another) and counts the rest through OnOverload. Nil: every claimed
	// tick is published.
	Backlog Backlog
	// MaxQueueLag is how much work, in the time the workers take to drain
	// it, may wait in the jobs queue before fresh ticks are shed. The
	// ticks that are published are then at most about this late. Zero
	// takes the default; negative turns admission control off.
	MaxQueueLag time.Duration
	// OnOverload, when set, sees how many ticks of a published batch
	// admission control left out: missed ticks, never probed.
	OnOverload func(n int)
	// OnSkipped, when set, sees how many grid points a published batch's
	// claim passed over, and why (SkippedOutage or SkippedBehind).
	OnSkipped func(reason string, n int)
	// Random draws the admission of each fresh tick, uniform in [0, 1);
	// nil is math/rand/v2's Float64. Tests replace it.
	Random func() float64
	Clock  Clock
	Logger *zap.Logger
	// OnDispatch, when set, sees every published batch and the time it was
	// claimed at (for the schedule-lag metric).
	OnDispatch func(jobs []check.Job, claimedAt time.Time)
	// LabelJobs, when set, fills the claimed jobs' MetricLabels before
	// they are published, so the workers' per-check series carry the
	// labels this process resolves for vigil_check_up.
	LabelJobs func(jobs []check.Job)
}

// Scheduler dispatches due ticks.
type Scheduler struct {
	claimer Claimer
	pub     Publisher
	cfg     Config
	adm     *admission // nil without admission control

	// rec holds the outage being caught up (see Dispatch). A new
	// scheduler starts with one, since it cannot know how long no
	// scheduler ran.
	rec recovery
}

// New returns a Scheduler; call Run to start it.
func New(c Claimer, p Publisher, cfg Config) *Scheduler {
	cfg = cfg.WithDefaults()
	s := &Scheduler{claimer: c, pub: p, cfg: cfg, adm: newAdmission(cfg)}
	s.rec.outage, s.rec.atStart = true, true
	if sc, ok := p.(sessionCounter); ok {
		s.rec.sessions = sc.Sessions()
	}
	return s
}

// WithDefaults returns cfg with the defaults in place of zero (and, where
// a negative value has no meaning, negative) fields. A caller that sizes
// something by the config, such as one publisher per parallel claim,
// sizes it by this.
func (cfg Config) WithDefaults() Config {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.CatchUp == 0 {
		cfg.CatchUp = DefaultCatchUp
	}
	if cfg.MaxIdle <= 0 {
		cfg.MaxIdle = DefaultMaxIdle
	}
	if cfg.Resolution == 0 {
		cfg.Resolution = DefaultResolution
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.MaxQueueLag == 0 {
		cfg.MaxQueueLag = DefaultMaxQueueLag
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return cfg
}

// Run dispatches due ticks until ctx is cancelled. Errors (database or
// broker down) are logged and retried with capped, jittered backoff; they
// never end the loop, because a scheduler that gives up silently is how
// checks stop being probed without anyone noticing.
//
// With admission control (Config.Backlog) it also polls the jobs queue's
// depth, in a goroutine of its own that ends with it.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.adm != nil {
		var wg sync.WaitGroup
		pctx, stop := context.WithCancel(ctx)
		wg.Go(func() { s.adm.run(pctx) })
		defer wg.Wait()
		defer stop()
	}
	log := s.cfg.Logger
	b := backoff.Backoff{Min: min(firstBackoff, s.cfg.MaxBackoff), Max: min(s.cfg.MaxBackoff, backoffLimit)}
	var wakeAt time.Time // when the last sleep was meant to end
	for {
		began := s.cfg.Clock.Now()
		if !wakeAt.IsZero() && began.Sub(wakeAt) > pauseAfter {
			// The process did not run for a while (stopped, a
			// suspended VM): every scheduler may have been away.
			log.Info("woke late; catching up", zap.Duration("late", began.Sub(wakeAt)))
			s.rec.mu.Lock()
			s.markOutage()
			s.rec.mu.Unlock()
		}
		_, err := s.Dispatch(ctx)
		if ctx.Err() != nil {
			return nil // the context ended: a clean stop, not a failure
		}
		var wait time.Duration
		if err != nil {
			wait = b.Next()
			log.Warn("dispatch failed; retrying", zap.Error(err), zap.Int("attempt", b.Attempts()), zap.Duration("backoff", wait))
		} else {
			if failed := b.Attempts(); failed > 0 {
				log.Info("dispatch recovered", zap.Int("failed_attempts", failed))
			}
			b.Reset()
			wait = max(s.idle(ctx), s.cfg.Resolution-s.cfg.Clock.Now().Sub(began))
		}
		wakeAt = s.cfg.Clock.Now().Add(max(wait, 0))
		if wait <= 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Clock.After(wait):
		}
	}
}

// pauseAfter is how much later than planned the loop may wake before it
// counts as a pause of the process, an outage to catch up after. A busy
// machine wakes a timer late by milliseconds, not by a second.
const pauseAfter = time.Second

// firstBackoff is the first wait after a failed dispatch; it doubles up to
// Config.MaxBackoff, and never beyond backoffLimit (ten doublings), so that
// even a generous MaxBackoff retries a recovered backend within two minutes.
const (
	firstBackoff = 100 * time.Millisecond
	backoffLimit = firstBackoff << 10
)

// Dispatch claims and publishes every tick due now, batch by batch with
// up to Config.Parallel transactions at once, and returns how many jobs it
// published. It starts with one claim and fans out only when that one
// came back full: most rounds fit one batch, and each extra claim that
// finds nothing still costs a transaction.
//
// A round after an outage the scheduler saw (see Config.CatchUp) catches
// up: a check's ticks missed by at most CatchUp are all dispatched. Any
// other round dispatches one tick per check, its newest, and counts the
// older ones it passes over as SkippedBehind. A scheduler that is late
// without an outage is short of CPU or database, and dispatching every
// missed tick would multiply the work it cannot do: at twice its capacity
// it fell ever further behind, each check's results arriving a whole
// catch-up window late. Dispatching only the newest tick caps the work at
// one job per check per interval, and the lag at about an interval.
func (s *Scheduler) Dispatch(ctx context.Context) (int, error) {
	r := s.beginRound()
	n, err := s.dispatch(ctx, r)
	if err == nil && r.catchingUp && r.late.Load() == 0 {
		r.behind = s.stillBehind(ctx)
	}
	s.endRound(ctx, r, err)
	return n, err
}

// stillBehind asks, after a catching-up round that published no late
// tick, whether some check is still an interval or more behind. With
// several schedulers that round may have found nothing late only because
// another scheduler held the late checks locked (claims skip locked
// rows); ending the catch-up then would make the next round pass over
// the ticks that other scheduler had not reached yet. A failed read
// counts as behind: catching up a little longer costs nothing the
// catch-up window does not already bound.
func (s *Scheduler) stillBehind(ctx context.Context) bool {
	behind, err := s.claimer.Behind(ctx, s.cfg.Clock.Now())
	if err != nil {
		s.cfg.Logger.Debug("cannot tell whether checks are still behind; catching up", zap.Error(err))
		return true
	}
	return behind
}

// round is how one Dispatch claims.
type round struct {
	began      time.Time
	catchingUp bool
	catchUp    time.Duration
	skipReason string
	// admitAll: admission control stands aside (see beginRound).
	admitAll bool
	// late counts the published ticks that were an interval or more late
	// when claimed: ticks a round that does not catch up would skip.
	late *atomic.Int64
	// behind: a round that published no late tick found, once it was
	// done, checks still an interval or more behind (see stillBehind).
	behind bool
}

// recovery is what the scheduler knows of the last outage it saw.
type recovery struct {
	mu sync.Mutex
	// outage: an outage was seen and its missed ticks are not all
	// dispatched yet, so rounds catch up.
	outage bool
	// since is when the first round after the outage succeeded; zero
	// while none has.
	since time.Time
	// admitFrom is when admission control may shed again after the last
	// outage (see beginRound).
	admitFrom time.Time
	// atStart: the outage being caught up is the scheduler's own start,
	// which holds admission control back only while it catches up: a new
	// scheduler has no drain rate yet and admits everything until two
	// polls measure one, where after an outage seen while running the
	// rate it had is stale.
	atStart bool
	// sessions is the publisher's session count at the last round.
	sessions uint64
}

// beginRound decides whether this round catches up: after an outage the
// scheduler saw, including a broker reconnect since the last round.
//
// Admission control stands aside while the scheduler catches up and, after
// an outage seen while running, for a catch-up window after the outage's
// first good round. The jobs queue
// then holds the outage's backlog and the workers are reconnecting: a
// deep queue and a low drain rate that say nothing about whether the
// workers keep up, and shedding on them would lose the fresh ticks the
// catch-up exists to keep. Past the window the depth and the drain rate,
// polled all along, describe the workers again.
func (s *Scheduler) beginRound() round {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if sc, ok := s.pub.(sessionCounter); ok {
		if n := sc.Sessions(); n != s.rec.sessions {
			s.rec.sessions = n
			s.markOutage()
		}
	}
	r := round{began: s.cfg.Clock.Now(), late: new(atomic.Int64)}
	r.admitAll = s.rec.outage || r.began.Before(s.rec.admitFrom)
	if s.rec.outage {
		r.catchingUp, r.catchUp, r.skipReason = true, s.cfg.CatchUp, SkippedOutage
		return r
	}
	// Negative: NextTick dispatches the newest grid point not after now.
	r.catchUp, r.skipReason = -1, SkippedBehind
	return r
}

// markOutage starts catching up; s.rec.mu is held.
func (s *Scheduler) markOutage() {
	s.rec.outage, s.rec.since, s.rec.atStart = true, time.Time{}, false
}

// endRound records what a round tells about the outage: a failed claim or
// publish is one, and a round that catches up, finds no late tick and
// leaves no check behind (stillBehind) ends it. A claim moves each check
// by one tick, so catching up takes a round per missed tick; it also ends
// CatchUp after the first good round, however many late ticks remain: by
// then every tick the outage held back has fallen out of the window, and
// what is still late is late because the scheduler cannot keep up.
func (s *Scheduler) endRound(ctx context.Context, r round, err error) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			s.markOutage()
		}
		return
	}
	if !r.catchingUp || !s.rec.outage {
		return
	}
	if s.rec.since.IsZero() {
		s.rec.since = r.began
		if !s.rec.atStart {
			s.rec.admitFrom = r.began.Add(max(s.cfg.CatchUp, 0))
		}
	}
	switch {
	case r.late.Load() == 0 && !r.behind:
		s.rec.outage = false
	case r.began.Sub(s.rec.since) >= s.cfg.CatchUp:
		s.cfg.Logger.Warn("still behind a catch-up window after an outage; dispatching only each late check's newest tick",
			zap.Duration("catch_up", s.cfg.CatchUp))
		s.rec.outage = false
	}
}

func (s *Scheduler) dispatch(ctx context.Context, r round) (int, error) {
	first, full, err := s.claimOnce(ctx, r)
	if err != nil || !full || ctx.Err() != nil {
		return first, err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    int
		firstErr error
	)
	for range s.cfg.Parallel {
		wg.Go(func() {
			n, err := s.drain(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	return first + total, firstErr
}

// drain claims batches until one comes back short: nothing else is due.
func (s *Scheduler) drain(ctx context.Context, r round) (int, error) {
	total := 0
	for {
		n, full, err := s.claimOnce(ctx, r)
		total += n
		if err != nil {
			return total, err
		}
		if !full {
			return total, nil
		}
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// claimOnce claims, publishes and commits one batch, and reports whether
// it was full (more may be due).
func (s *Scheduler) claimOnce(ctx context.Context, r round) (int, bool, error) {
	now := s.cfg.Clock.Now()
	n, err := s.claimer.ClaimDue(ctx, now, s.cfg.BatchSize, r.catchUp, func(ctx context.Context, jobs []check.Job, skipped int) error {
		// A batch whose publish has begun is finished even when shutdown
		// starts meanwhile: abandoning it half-confirmed would roll the
		// claim back while the broker keeps the jobs, and the ticks
		// would be dispatched twice. PublishTimeout still bounds it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
		defer cancel()
		// Ticks admission control leaves out are claimed all the same:
		// the schedule moves past them, as past any missed tick.
		shed := 0
		if !r.admitAll {
			jobs, shed = s.adm.filter(now, jobs)
		}
		if len(jobs) > 0 {
			if s.cfg.LabelJobs != nil {
				s.cfg.LabelJobs(jobs)
			}
			if err := s.pub.PublishJobs(ctx, jobs); err != nil {
				return err
			}
		}
		// Counted only once the rest is published: a failed publish
		// rolls the claim back and the same ticks are claimed again.
		s.adm.shedTicks(now, shed)
		for i := range jobs {
			if now.Sub(jobs[i].ScheduledAt) >= max(jobs[i].Interval, check.MinInterval) {
				r.late.Add(1)
			}
		}
		if s.cfg.OnSkipped != nil && skipped > 0 {
			s.cfg.OnSkipped(r.skipReason, skipped)
		}
		if s.cfg.OnDispatch != nil && len(jobs) > 0 {
			s.cfg.OnDispatch(jobs, now)
		}
		return nil
	})
	return n, n >= s.cfg.BatchSize, err
}

// idle returns how long to sleep before the next tick is due.
func (s *Scheduler) idle(ctx context.Context) time.Duration {
	next, ok, err := s.claimer.NextDue(ctx)
	if err != nil || !ok {
		return s.cfg.MaxIdle
	}
	return min(max(next.Sub(s.cfg.Clock.Now()), 0), s.cfg.MaxIdle)
}
