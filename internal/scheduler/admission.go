package scheduler

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// Backlog reports the jobs queue's depth for admission control;
// *queue.PublisherPool implements it.
type Backlog interface {
	// JobBacklog returns how many job messages wait in the queue ready for
	// a worker, and how many job messages this process has had confirmed
	// since it started.
	JobBacklog(ctx context.Context) (ready int, published uint64, err error)
}

// Admission control's fixed rhythm. One poll a second is cheap for the
// broker (a passive declare) and quick enough for a queue whose bound is
// a few seconds of work.
const (
	// pollEvery is how often the scheduler asks the broker for the depth:
	// once per process, whatever the publish rate.
	pollEvery = time.Second
	// pollTimeout bounds one poll. It runs beside the publishes, never in
	// their way, so it only decides how soon a hung broker counts as a
	// failed poll.
	pollTimeout = time.Second
	// sampleTTL is how long a poll's verdict holds. Past it (the polls
	// fail or hang) admission fails open: everything is published, as
	// without admission control.
	sampleTTL = 3 * pollEvery
	// admissionReportEvery is how often shedding is logged: one line per
	// period with counts, as the workers' stale shedding does.
	admissionReportEvery = 10 * time.Second
	// minDepthLimit is the smallest depth limit, in messages: a drain rate
	// measured near zero (workers just stopped, a sample across a pause)
	// must not make one waiting batch (500 jobs in 10 messages at the
	// default 50 jobs per message) count as overload.
	minDepthLimit = 10
)

// backlogSample is one poll's answer.
type backlogSample struct {
	at        time.Time
	ready     int
	published uint64
}

// drainRate returns how many messages a second the workers took from the
// queue between two polls: what was published meanwhile less what the
// queue grew by. It tells only when the queue held messages at both polls,
// so that the workers had work throughout and the rate is what they can
// take, not merely what they were given. Publishes of other scheduler
// replicas are not counted, so with several the rate is underestimated
// and admission errs towards a shorter queue.
func drainRate(prev, cur backlogSample) (float64, bool) {
	dt := cur.at.Sub(prev.at).Seconds()
	if dt <= 0 || prev.ready <= 0 || cur.ready <= 0 || cur.published < prev.published {
		return 0, false
	}
	taken := float64(cur.published-prev.published) - float64(cur.ready-prev.ready)
	return max(taken, 0) / dt, true
}

// depthLimit is the queue depth, in messages, that the workers drain in
// maxLag at drain messages a second, and at least minDepthLimit.
func depthLimit(drain float64, maxLag time.Duration) float64 {
	return max(minDepthLimit, drain*maxLag.Seconds())
}

// admitFraction is the share of fresh ticks to publish with ready messages
// waiting against a depth limit: all of them up to half the limit, none
// at the limit, and in between a share that falls linearly. The ramp,
// rather than all or nothing, lets the depth settle where what is
// published matches what the workers take, instead of swinging between
// empty and full with every poll.
func admitFraction(ready int, limit float64) float64 {
	half := limit / 2
	switch r := float64(ready); {
	case r <= half:
		return 1
	case r >= limit:
		return 0
	default:
		return (limit - r) / half
	}
}

// admission decides which fresh ticks the scheduler publishes when the
// workers cannot take them all. A goroutine of Run polls the queue's depth
// (run); publishes only read the verdict, so they never wait on the broker.
type admission struct {
	src    Backlog
	maxLag time.Duration
	clock  Clock
	log    *zap.Logger
	random func() float64
	onShed func(n int)

	mu        sync.Mutex
	last      backlogSample
	haveLast  bool
	drain     float64 // messages a second, smoothed
	haveDrain bool
	limit     float64
	fraction  float64   // share of fresh ticks admitted
	sampledAt time.Time // of the poll fraction comes from; zero: none
	// Shed ticks since the last report, and since when.
	shed      int
	shedSince time.Time
	// Failed polls since the last success, and when one was last logged.
	failed     int
	failLogged time.Time
}

// newAdmission returns admission control for cfg, or nil when it is off.
func newAdmission(cfg Config) *admission {
	if cfg.Backlog == nil || cfg.MaxQueueLag < 0 {
		return nil
	}
	random := cfg.Random
	if random == nil {
		random = rand.Float64
	}
	return &admission{src: cfg.Backlog, maxLag: cfg.MaxQueueLag, clock: cfg.Clock,
		log: cfg.Logger, random: random, onShed: cfg.OnOverload, fraction: 1}
}

// run polls the depth every pollEvery until ctx ends.
// On the way out it logs what it shed since the last line.
func (a *admission) run(ctx context.Context) {
	defer a.flush()
	for {
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		ready, published, err := a.src.JobBacklog(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		a.observe(a.clock.Now(), ready, published, err)
		select {
		case <-ctx.Done():
			return
		case <-a.clock.After(pollEvery):
		}
	}
}

// observe takes one poll's answer and sets the share of fresh ticks to
// admit until the next. A failed poll fails open: everything is published,
// as without admission control, and the next drain rate is measured from
// the next two good polls.
func (a *admission) observe(now time.Time, ready int, published uint64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.failed++
		a.haveLast, a.fraction, a.sampledAt = false, 1, time.Time{}
		if now.Sub(a.failLogged) >= admissionReportEvery {
			a.failLogged = now
			a.log.Warn("cannot read the jobs queue's depth; publishing every tick", zap.Error(err), zap.Int("failed_polls", a.failed))
		}
		return
	}
	if a.failed > 0 {
		a.log.Info("reading the jobs queue's depth again", zap.Int("failed_polls", a.failed))
		a.failed, a.failLogged = 0, time.Time{}
	}
	cur := backlogSample{at: now, ready: ready, published: published}
	if a.haveLast {
		if rate, ok := drainRate(a.last, cur); ok {
			if a.haveDrain {
				// Halfway to the new rate: one odd interval (a pause,
				// a burst of acks) moves it only half as far.
				rate = (a.drain + rate) / 2
			}
			a.drain, a.haveDrain = rate, true
		}
	}
	a.last, a.haveLast, a.sampledAt = cur, true, now
	a.fraction, a.limit = 1, math.Inf(1)
	if a.haveDrain {
		a.limit = depthLimit(a.drain, a.maxLag)
		a.fraction = admitFraction(ready, a.limit)
	}
	a.report(now, ready, false)
}

// flush logs the ticks shed since the last line, however recent.
func (a *admission) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.report(a.clock.Now(), a.last.ready, true)
}

// report logs the ticks shed since the last line, once every
// admissionReportEvery unless now; a.mu is held.
func (a *admission) report(now time.Time, ready int, force bool) {
	if a.shed == 0 || (!force && now.Sub(a.shedSince) < admissionReportEvery) {
		return
	}
	a.log.Warn("overloaded: skipped ticks without publishing them; add workers or concurrency",
		zap.Int("skipped", a.shed), zap.Float64("in_last_s", now.Sub(a.shedSince).Round(time.Second).Seconds()),
		zap.Int("queue_ready", ready), zap.Float64("queue_limit", math.Round(a.limit)),
		zap.Float64("drain_per_s", math.Round(a.drain)), zap.Float64("admitted_share", math.Round(a.fraction*100)/100))
	a.shed, a.shedSince = 0, now
}

// admitted returns the share of fresh ticks to publish at now: 1 without a
// recent poll.
func (a *admission) admitted(now time.Time) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sampledAt.IsZero() || now.Sub(a.sampledAt) > sampleTTL {
		return 1
	}
	return a.fraction
}

// filter returns the jobs to publish of a batch claimed at now, and how
// many it leaves out. Each job is admitted by its own draw, so a
// check misses a tick by chance, never by its place in the schedule: a
// rule by position (every other job, the first n of a round) would shed
// the same checks round after round, since the same checks fall due
// together every interval. A late tick is drawn like the rest: the
// scheduler does not filter the rounds that catch up after an outage, so
// a tick late here is late because the scheduler fell behind.
func (a *admission) filter(now time.Time, jobs []check.Job) ([]check.Job, int) {
	if a == nil {
		return jobs, 0
	}
	f := a.admitted(now)
	if f >= 1 {
		return jobs, 0
	}
	out := make([]check.Job, 0, len(jobs))
	for i := range jobs {
		if a.random() < f {
			out = append(out, jobs[i])
		}
	}
	return out, len(jobs) - len(out)
}

// shedTicks counts n ticks left out of a batch that was published.
func (a *admission) shedTicks(now time.Time, n int) {
	if a == nil || n == 0 {
		return
	}
	a.mu.Lock()
	if a.shed == 0 {
		a.shedSince = now
	}
	a.shed += n
	a.mu.Unlock()
	if a.onShed != nil {
		a.onShed(n)
	}
}
