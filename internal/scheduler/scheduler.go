// Package scheduler turns the registry's due rows into probe jobs on the
// broker. It is stateless - every replica runs the same loop and the
// database's row locks divide the work - and it never waits on a probe:
// its only work per tick is a claim, a publish and a commit.
package scheduler

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/backoff"
	"github.com/vigil-dev/vigil/internal/check"
)

// Claimer claims due checks; *store.Store implements it.
type Claimer interface {
	// ClaimDue claims up to limit due checks, calls publish with their jobs
	// and advances their schedule only when publish succeeds.
	ClaimDue(ctx context.Context, now time.Time, limit int, catchUp time.Duration, publish func(context.Context, []check.Job) error) (int, error)
	// NextDue returns the earliest scheduled tick, or false when none.
	NextDue(ctx context.Context) (time.Time, bool, error)
}

// Publisher hands jobs to the broker and returns once it has confirmed
// them all.
type Publisher interface {
	PublishJobs(ctx context.Context, jobs []check.Job) error
}

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
	// CatchUp is how late a missed tick may still be dispatched (after an
	// outage of the broker, the database or every scheduler); older
	// missed ticks are skipped. Zero takes the default; negative skips
	// every missed tick.
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
}

// New returns a Scheduler; call Run to start it.
func New(c Claimer, p Publisher, cfg Config) *Scheduler {
	cfg = cfg.WithDefaults()
	return &Scheduler{claimer: c, pub: p, cfg: cfg, adm: newAdmission(cfg)}
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
	for {
		began := s.cfg.Clock.Now()
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
func (s *Scheduler) Dispatch(ctx context.Context) (int, error) {
	first, full, err := s.claimOnce(ctx)
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
			n, err := s.drain(ctx)
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
func (s *Scheduler) drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, full, err := s.claimOnce(ctx)
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
func (s *Scheduler) claimOnce(ctx context.Context) (int, bool, error) {
	now := s.cfg.Clock.Now()
	n, err := s.claimer.ClaimDue(ctx, now, s.cfg.BatchSize, s.cfg.CatchUp, func(ctx context.Context, jobs []check.Job) error {
		// A batch whose publish has begun is finished even when shutdown
		// starts meanwhile: abandoning it half-confirmed would roll the
		// claim back while the broker keeps the jobs, and the ticks
		// would be dispatched twice. PublishTimeout still bounds it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
		defer cancel()
		// Ticks admission control leaves out are claimed all the same:
		// the schedule moves past them, as past any missed tick.
		jobs, shed := s.adm.filter(now, jobs)
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
