// Package worker runs probe jobs: probe the target under the job's
// timeout, record the result and the state it implies, publish any
// transition, and only then let the broker forget the job.
package worker

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Prober probes one job. It never fails: an unreachable target is a DOWN
// result.
type Prober interface {
	Probe(ctx context.Context, job check.Job) check.Result
}

// Recorder stores results and evaluates state; the PostgreSQL store
// implements it (internal/app wires it in).
type Recorder interface {
	Record(ctx context.Context, results []check.Result) (registry.RecordOutcome, error)
}

// TransitionPublisher broadcasts transitions after they are committed.
type TransitionPublisher interface {
	PublishTransitions(ctx context.Context, ts []check.Transition) error
}

// Config tunes a Worker. Zero values take the defaults.
type Config struct {
	// MaxBatch bounds how many results one database transaction records.
	MaxBatch int
	// Flushers is how many record transactions may run at once.
	Flushers int
	// Linger is how long a record batch stays open for more results
	// (see batcher). Zero takes DefaultLinger; negative flushes at once.
	// Every Handle call waits for its batch, so the worker's concurrency
	// must cover the results of a linger as well as the probes in flight.
	Linger time.Duration
	Logger *zap.Logger
	// OnResult, when set, sees every result once it is recorded (for metrics).
	OnResult func(r check.Result)
	// OnTransition, when set, sees every transition published.
	OnTransition func(t check.Transition)

	// MaxJobAge bounds how late Handle still probes a job: a job whose
	// tick is later than the longer of MaxJobAge and its check's interval
	// is acked without a probe (see Handle). Zero takes DefaultMaxJobAge;
	// a positive value below MinMaxJobAge is raised to it; negative turns
	// shedding off.
	MaxJobAge time.Duration
	// MaxQueueWait bounds how long a job may have waited since it was
	// published (in the broker and in the consumer's prefetch) and still
	// be probed (see HandlePublished). Zero takes DefaultMaxQueueWait
	// (off); a positive value below MinMaxQueueWait is raised to it;
	// negative turns this shedding off.
	MaxQueueWait time.Duration
	// OnStale, when set, sees every job Handle skipped without a probe,
	// why (ShedStale or ShedQueued), and how late it was by that rule.
	OnStale func(job check.Job, reason string, late time.Duration)
	// Now is the worker's clock; nil is time.Now. Tests set it.
	Now func() time.Time
}

// Defaults of Config's fields.
const (
	// DefaultMaxBatch bounds a record transaction, whose row locks other
	// batches of the same checks wait for.
	DefaultMaxBatch = 200
	// DefaultFlushers lets one record transaction fill while another
	// commits.
	DefaultFlushers = 2
	// DefaultLinger gathers a busy worker's results into batches of a
	// hundred or more while adding little to when a transition is
	// broadcast.
	DefaultLinger = 50 * time.Millisecond
	// DefaultMaxJobAge is twice the scheduler's default catch-up window
	// (scheduler.DefaultCatchUp). The scheduler dispatches a tick up to a
	// window late after an outage, and the workers, reconnecting to the
	// same broker, then need time to work through that backlog: a bound
	// of one window shed the oldest catch-up ticks before they were
	// reached (the fault suite lost 725 ticks after a 35 s broker
	// restart). A second window is that time. What waited longer than
	// that in the broker is shed.
	DefaultMaxJobAge = 60 * time.Second
	// MinMaxJobAge is the floor of MaxJobAge. A job's age is the worker's
	// clock minus a tick the scheduler's clock dispatched, so it is off by
	// their skew; a floor of seconds keeps an NTP-synchronised pair (off
	// by milliseconds) or a slightly drifting one from shedding jobs that
	// are on time.
	MinMaxJobAge = 5 * time.Second
	// DefaultMaxQueueWait is off (negative). The bound also sheds the
	// jobs a broker outage held in the queue, which the scheduler's
	// catch-up promises to probe: the fault suite lost 257 ticks to it
	// after a 10 s broker restart at 5 s. RecommendedMaxQueueWait is the
	// value for deployments that fear overload more than that.
	DefaultMaxQueueWait = -time.Second
	// RecommendedMaxQueueWait keeps the ticks that are probed within a
	// few seconds of on time when the workers cannot keep up. It is
	// seconds rather than the scheduler's VIGIL_MAX_QUEUE_LAG because the
	// wait is the worker's clock minus the publisher's, so it is off by
	// their skew.
	RecommendedMaxQueueWait = 5 * time.Second
	// MinMaxQueueWait is the floor of MaxQueueWait: a bound below the
	// skew of NTP-synchronised clocks and the time a busy broker takes
	// to deliver would shed jobs that are on time.
	MinMaxQueueWait = time.Second
)

// Why a job is shed: the reason label of vigil_ticks_missed_total.
const (
	// ShedStale: the job's tick is older than MaxJobAge and its interval.
	ShedStale = "stale"
	// ShedQueued: the job waited longer than MaxQueueWait since it was
	// published.
	ShedQueued = "queued"
)

// Worker handles jobs; Handle is safe for concurrent use.
type Worker struct {
	prober Prober
	pub    TransitionPublisher
	log    *zap.Logger
	cfg    Config
	batch  *batcher
	stale  *staleJobs
}

// New returns a Worker. Call Close when no Handle call is running any more.
func New(p Prober, r Recorder, pub TransitionPublisher, cfg Config) *Worker {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Flushers <= 0 {
		cfg.Flushers = DefaultFlushers
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	switch {
	case cfg.MaxJobAge == 0:
		cfg.MaxJobAge = DefaultMaxJobAge
	case cfg.MaxJobAge > 0:
		cfg.MaxJobAge = max(cfg.MaxJobAge, MinMaxJobAge)
	}
	switch {
	case cfg.MaxQueueWait == 0:
		cfg.MaxQueueWait = DefaultMaxQueueWait
	case cfg.MaxQueueWait > 0:
		cfg.MaxQueueWait = max(cfg.MaxQueueWait, MinMaxQueueWait)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Worker{prober: p, pub: pub, log: cfg.Logger, cfg: cfg,
		batch: newBatcher(r, cfg.MaxBatch, cfg.Flushers, cfg.Linger),
		stale: newStaleJobs(cfg.Logger, cfg.Now)}
}

// Close stops the record batcher and logs what was shed since the last
// summary.
func (w *Worker) Close() {
	w.batch.close()
	w.stale.close()
}

// Handle runs one job. A nil error means the job is done and may be acked;
// an error means it must be redelivered (the result could not be stored or
// its transition could not be published). Redelivery is safe: the result's
// key makes the second insert a no-op and hands back the transition to
// publish again.
//
// A job whose tick is too late (see Config.MaxJobAge) is not probed:
// Handle logs and counts it and returns nil, so its message is acked and
// the tick has no result, as if the scheduler had skipped it. A worker
// that cannot keep up thus sheds what it cannot do on time instead of
// running every job a minute late; see docs/architecture.md.
func (w *Worker) Handle(ctx context.Context, job check.Job) error {
	return w.HandlePublished(ctx, job, time.Time{})
}

// HandlePublished is Handle for a job published at publishedAt (zero: not
// known). A job that waited longer than Config.MaxQueueWait since is not
// probed either: its tick may be recent (the scheduler dispatches missed
// ticks late on purpose after an outage, and those should run), but a
// long wait means the workers are behind, and in a first-in, first-out
// backlog every job waits about as long. Shedding what waited too long
// keeps the ticks that are probed on time instead of all of them late.
func (w *Worker) HandlePublished(ctx context.Context, job check.Job, publishedAt time.Time) error {
	if w.shed(job, publishedAt) {
		return nil
	}
	return w.run(ctx, job)
}

// HandleRetry is Handle for a job that is being retried after a failure of
// Vigil's own (its result could not be recorded or its transition
// published): it probes the job however late it is. A retry is late by
// the delays the consumer put in on purpose, which are sized to ride out
// a database restart within the scheduler's catch-up window, and
// MaxDeliveries bounds it already; shedding it would turn the outage the
// retries were for into lost ticks.
func (w *Worker) HandleRetry(ctx context.Context, job check.Job) error {
	return w.run(ctx, job)
}

// Overloaded reports whether the worker shed a job within the last
// OverloadWindow: it is not keeping up with the jobs it is given.
func (w *Worker) Overloaded() bool { return w.stale.recent() }

// run probes job, records its result and publishes its transitions.
func (w *Worker) run(ctx context.Context, job check.Job) error {
	// The probe gets its own deadline from the job; the extra second lets
	// the prober report the timeout itself rather than see a cancelled ctx.
	probeCtx, cancel := context.WithTimeout(ctx, job.Timeout+time.Second)
	res := w.prober.Probe(probeCtx, job)
	cancel()
	res.Region = job.Region
	// The job's logger is built only for a line that is written: at
	// thousands of probes a second, With's copy of the core for every job
	// shows in a busy worker's profile (docs/benchmarks.md), and so does
	// building fields the level filters out.
	log := func() *zap.Logger {
		return w.log.With(zap.String("service", job.Service), zap.String("check_id", job.CheckID))
	}
	if ce := w.log.Check(zap.InfoLevel, "probe finished"); ce != nil {
		fields := []zap.Field{
			zap.String("service", job.Service), zap.String("check_id", job.CheckID),
			zap.String("status", string(res.Status)),
			zap.Float64("latency_ms", ms(res.Latency)),
			zap.Time("scheduled_at", job.ScheduledAt),
		}
		if res.HTTPStatus != 0 {
			fields = append(fields, zap.Int("http_status", res.HTTPStatus))
		}
		if res.Error != "" {
			fields = append(fields, zap.String("error", res.Error))
		}
		ce.Write(fields...)
	}

	out, err := w.batch.record(ctx, res)
	if err != nil {
		log().Warn("record result failed; job will be redelivered", zap.Error(err))
		return fmt.Errorf("record result: %w", err)
	}
	if w.cfg.OnResult != nil {
		w.cfg.OnResult(res)
	}
	if len(out.transitions) == 0 {
		return nil
	}
	if err := w.pub.PublishTransitions(ctx, out.transitions); err != nil {
		log().Warn("publish transition failed; job will be redelivered", zap.Error(err))
		return fmt.Errorf("publish transitions: %w", err)
	}
	tlog := log()
	for _, t := range out.transitions {
		tlog.Info("state changed",
			zap.Int64("transition_id", t.ID),
			zap.String("from", string(t.From)), zap.String("to", string(t.To)),
			zap.String("status", string(res.Status)),
			zap.Float64("latency_ms", ms(t.Latency)), zap.String("error", t.Error))
		if w.cfg.OnTransition != nil {
			w.cfg.OnTransition(t)
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
