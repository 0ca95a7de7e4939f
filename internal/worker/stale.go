package worker

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// OverloadWindow is how long Overloaded stays true after the last stale
// job was shed: longer than a usual scrape interval (15 to 30 s), so that
// a scrape sees every episode, however short.
const OverloadWindow = 30 * time.Second

// staleReportEvery is how often a shedding worker logs what it shed: one
// line per period instead of one per job, which at thousands of jobs a
// second would be a flood of its own.
const staleReportEvery = 10 * time.Second

// shed reports whether job is too late to be worth probing, and if so logs
// and counts it. A job is too late once its tick is older than the longer
// of its check's interval and MaxJobAge (stale): by then the check's next
// tick is due too, and the scheduler itself would no longer dispatch the
// tick (it dispatches a missed tick only within its catch-up window, whose
// default MaxJobAge matches). It is too late as well once it waited longer
// than MaxQueueWait since publishedAt (queued): see HandlePublished.
// Probing either would spend a slot on a result that is stale on arrival
// and push every job queued behind it later still.
func (w *Worker) shed(job check.Job, publishedAt time.Time) bool {
	now := w.cfg.Now()
	reason, late, limit := w.tooLate(now, job, publishedAt)
	if reason == "" {
		return false
	}
	w.stale.add(now, reason, late)
	if ce := w.log.Check(zap.DebugLevel, "skipped stale job without probing"); ce != nil {
		ce.Write(zap.String("service", job.Service), zap.String("check_id", job.CheckID),
			zap.String("reason", reason), zap.Time("scheduled_at", job.ScheduledAt),
			zap.Float64("late_ms", ms(late)), zap.Float64("max_age_ms", ms(limit)))
	}
	if w.cfg.OnStale != nil {
		w.cfg.OnStale(job, reason, late)
	}
	return true
}

// tooLate says by which rule, if any, job is too late at now: the reason,
// how late it is by that rule and the rule's bound; no reason when the job
// is to be probed.
func (w *Worker) tooLate(now time.Time, job check.Job, publishedAt time.Time) (reason string, late, limit time.Duration) {
	if w.cfg.MaxJobAge >= 0 {
		late := now.Sub(job.ScheduledAt)
		// A job from a scheduler that predates Job.Interval has none, and
		// MaxJobAge alone bounds it.
		if limit := max(w.cfg.MaxJobAge, job.Interval); late > limit {
			return ShedStale, late, limit
		}
	}
	if w.cfg.MaxQueueWait >= 0 && !publishedAt.IsZero() {
		if waited := now.Sub(publishedAt); waited > w.cfg.MaxQueueWait {
			return ShedQueued, waited, w.cfg.MaxQueueWait
		}
	}
	return "", 0, 0
}

// staleJobs keeps what the worker shed: when it last did (for Overloaded)
// and how many since the last summary line, which a goroutine started at
// the first shed job writes every staleReportEvery.
type staleJobs struct {
	log   *zap.Logger
	now   func() time.Time
	every time.Duration

	mu      sync.Mutex
	count   int           // shed since the last summary
	queued  int           // of which for waiting too long since published
	maxLate time.Duration // the latest of those
	since   time.Time     // the last summary, or the first shed job
	last    time.Time     // the latest shed job
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

func newStaleJobs(log *zap.Logger, now func() time.Time) *staleJobs {
	return &staleJobs{log: log, now: now, every: staleReportEvery,
		stop: make(chan struct{}), done: make(chan struct{})}
}

func (s *staleJobs) add(now time.Time, reason string, late time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() {
		s.since = now
	}
	s.count++
	if reason == ShedQueued {
		s.queued++
	}
	s.maxLate = max(s.maxLate, late)
	s.last = now
	// Most workers never shed a job, so the reporter starts with the
	// first one rather than with the worker.
	if !s.started && !s.closed {
		s.started = true
		go s.reportEvery()
	}
}

func (s *staleJobs) recent() bool {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	return !last.IsZero() && s.now().Sub(last) < OverloadWindow
}

func (s *staleJobs) reportEvery() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.report()
		case <-s.stop:
			return
		}
	}
}

// report writes the summary of the jobs shed since the last one, if any.
func (s *staleJobs) report() {
	s.mu.Lock()
	n, queued, maxLate, since := s.count, s.queued, s.maxLate, s.since
	now := s.now()
	s.count, s.queued, s.maxLate, s.since = 0, 0, 0, now
	s.mu.Unlock()
	if n == 0 {
		return
	}
	// Seconds, not the milliseconds of the per-job line: this line is
	// for people, and these spans are tens of seconds.
	s.log.Warn("overloaded: skipped stale jobs without probing; add workers or concurrency",
		zap.Int("skipped", n), zap.Int("stale", n-queued), zap.Int("queued", queued),
		zap.Float64("in_last_s", now.Sub(since).Round(time.Second).Seconds()),
		zap.Float64("max_late_s", maxLate.Round(100*time.Millisecond).Seconds()))
}

// close stops the reporter and writes what it has not reported yet.
func (s *staleJobs) close() {
	s.mu.Lock()
	started, closed := s.started, s.closed
	s.closed = true
	s.mu.Unlock()
	if closed {
		return
	}
	if started {
		close(s.stop)
		<-s.done
	}
	s.report()
}
