// Package metrics exposes Vigil's Prometheus metrics. Every process owns one
// Metrics value with its own registry, so nothing here touches the
// client_golang default registerer and tests can build as many as they like.
//
// The hooks are safe for concurrent use and cheap on the hot path: the
// label values of the per-probe and per-job series are resolved once in New,
// so ProbeFinished does no map lookup or allocation. Every hook is also a
// no-op on a nil *Metrics, so a process or test that runs without metrics can
// pass nil instead of a stub.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-dev/vigil/internal/check"
)

const namespace = "vigil"

// Bucket boundaries in seconds. Probe durations run from a sub-millisecond
// local hit to a probe that used all of a long timeout; schedule lag runs
// from a prompt claim to a scheduler that fell a minute behind.
var (
	probeBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	lagBuckets   = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

// Metrics owns a registry and every Vigil collector registered in it.
type Metrics struct {
	reg *prometheus.Registry

	probesUp, probesDown     prometheus.Counter
	probeUpDur, probeDownDur prometheus.Observer

	opts        options
	checkUp     *prometheus.GaugeVec
	transitions map[check.State]prometheus.Counter
	// checks remembers each check's up series (its label values and
	// value) and its allow-listed label values, so that a renamed or
	// relabelled check moves its series instead of leaving a stale one
	// behind, and a delete needs only the id.
	mu     sync.Mutex
	checks map[string]*checkEntry
	epoch  uint64

	collectors []prometheus.Collector

	jobsPublished    prometheus.Counter
	scheduleLag      prometheus.Histogram
	jobsConsumed     prometheus.Counter
	jobsRedelivered  prometheus.Counter
	jobsDeadLettered *prometheus.CounterVec
	jobsSkipped      *prometheus.CounterVec
	ticksMissed      *prometheus.CounterVec
	ticksOverload    prometheus.Counter

	wsOnce    sync.Once
	wsClients atomic.Pointer[func() int]

	overloadOnce sync.Once
	overloaded   atomic.Pointer[func() bool]

	regionOnce sync.Once
	regions    *regionChecks // vigil_region_checks (regions.go)

	// facts are the per-check series of the last result (facts.go).
	facts *facts
	// notify are the notification delivery series (notify.go).
	notify notifySeries
}

// New builds a Metrics with the Go runtime and process collectors and every
// Vigil series registered. Series with a fixed label set start at zero, so
// rate() and absent() work from the first scrape.
func New(opts ...Option) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, checks: map[string]*checkEntry{}, transitions: map[check.State]prometheus.Counter{}}
	for _, o := range opts {
		o(&m.opts)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.facts = newFacts(time.Now, m.opts.labelKeys)
	m.collectors = append(m.checkSeries(), m.jobSeries()...)
	m.collectors = append(m.collectors, buildInfo(m.opts.version, m.opts.revision), m.facts)
	reg.MustRegister(m.collectors...)
	return m
}

// Collectors returns Vigil's own collectors (not the Go runtime and process
// ones), for a process that serves another registry: the operator adds
// them to controller-runtime's, which has runtime collectors of its own.
// The series added later (WebSocketClients, WorkerOverloaded) are not
// among them.
func (m *Metrics) Collectors() []prometheus.Collector {
	return append([]prometheus.Collector(nil), m.collectors...)
}

// checkSeries builds the series of probes and check states and returns
// them for registering.
func (m *Metrics) checkSeries() []prometheus.Collector {
	probes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "probes_total",
		Help: "Probes finished, by result (up or down).",
	}, []string{"result"})
	probeDur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "probe_duration_seconds",
		Help:    "Time a probe took, by result; a probe that timed out counts its whole timeout.",
		Buckets: probeBuckets,
	}, []string{"result"})
	m.probesUp, m.probesDown = probes.WithLabelValues("up"), probes.WithLabelValues("down")
	m.probeUpDur, m.probeDownDur = probeDur.WithLabelValues("up"), probeDur.WithLabelValues("down")

	m.checkUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "check_up",
		Help: "Current state of each check: 1 UP, 0 DOWN; no series while UNKNOWN or PAUSED. One series per check; namespace and name are the ServiceCheck's (Kubernetes mode), label_* the allow-listed labels (VIGIL_METRIC_LABELS).",
	}, checkLabelNamesFor(m.opts.labelKeys))
	transitions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "transitions_total",
		Help: "State changes of checks, by the state entered.",
	}, []string{"to"})
	for _, s := range []check.State{check.StateUp, check.StateDown, check.StatePaused, check.StateUnknown} {
		m.transitions[s] = transitions.WithLabelValues(string(s))
	}
	return []prometheus.Collector{probes, probeDur, m.checkUp, transitions}
}

// jobSeries builds the series of the jobs' way through the broker and
// returns them for registering.
func (m *Metrics) jobSeries() []prometheus.Collector {
	m.jobsPublished = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_published_total",
		Help: "Probe jobs the scheduler published (and the broker confirmed).",
	})
	m.scheduleLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "schedule_lag_seconds",
		Help:    "How long after its grid point a job was claimed for dispatch.",
		Buckets: lagBuckets,
	})
	m.jobsConsumed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_consumed_total",
		Help: "Probe jobs workers received, including redeliveries.",
	})
	m.jobsRedelivered = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_redelivered_total",
		Help: "Probe jobs workers received that may have run before: requeued after a failure, or in a message the broker had delivered before (every job of such a message counts).",
	})
	m.jobsDeadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_dead_lettered_total",
		Help: "Job messages workers sent to the dead-letter queue, by reason: malformed (the body holds no valid jobs), handler (a job asked for it), max_deliveries (a job failed on its last allowed delivery). A message holds only the jobs that are dead, usually one; a malformed one may hold many.",
	}, []string{"reason"})
	m.jobsSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "jobs_unpublishable_total",
		Help: "Probe jobs the scheduler skipped because no broker message could carry them, by reason: too_large (over the message byte budget on its own), invalid (no worker could run it). Their tick passes unprobed.",
	}, []string{"reason"})
	// The reasons Vigil uses start at zero; the queue package owns the
	// names, which this leaf package repeats rather than import.
	for _, r := range []string{"malformed", "handler", "max_deliveries"} {
		m.jobsDeadLettered.WithLabelValues(r)
	}
	for _, r := range []string{"too_large", "invalid"} {
		m.jobsSkipped.WithLabelValues(r)
	}
	m.ticksMissed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "ticks_missed_total",
		Help: "Ticks that got no result because nobody probed them, by reason: stale (a worker acked the job without a probe because its tick was later than the longer of the check's interval and VIGIL_MAX_JOB_AGE: the workers are not keeping up); queued (a worker acked the job without a probe because it waited longer than VIGIL_MAX_QUEUE_WAIT since it was published: the workers are not keeping up); overload (the scheduler claimed the tick but did not publish it because the jobs queue held more than the workers drain in VIGIL_MAX_QUEUE_LAG); behind (a scheduler reached the check more than an interval after the tick with no outage seen, so it was short of CPU or database, and dispatched only the check's newest tick); outage (after an outage, the tick was older than VIGIL_SCHEDULER_CATCH_UP).",
	}, []string{"reason"})
	// The worker package owns the shed reasons, which this leaf
	// package repeats rather than import.
	// So does the scheduler package with its skip reasons.
	for _, r := range []string{"stale", "queued", "behind", "outage"} {
		m.ticksMissed.WithLabelValues(r)
	}
	m.ticksOverload = m.ticksMissed.WithLabelValues("overload")

	return []prometheus.Collector{m.jobsPublished, m.scheduleLag, m.jobsConsumed, m.jobsRedelivered,
		m.jobsDeadLettered, m.jobsSkipped, m.ticksMissed}
}

// Registry returns the registry behind Handler, for a process that has
// collectors of its own to add (controller-runtime, for one).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats; mount
// it at /metrics. It also counts its own scrapes, like the default handler.
func (m *Metrics) Handler() http.Handler {
	return promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		EnableOpenMetrics: true,
	}))
}

// ProbeFinished counts one probe and records how long it took. Workers call
// it for every probe, including those whose result the store later ignores
// as a duplicate: it measures probing work, not state.
func (m *Metrics) ProbeFinished(r check.Result) {
	if m == nil {
		return
	}
	m.facts.record(r)
	if r.Success() {
		m.probesUp.Inc()
		m.probeUpDur.Observe(r.Latency.Seconds())
		return
	}
	m.probesDown.Inc()
	m.probeDownDur.Observe(r.Latency.Seconds())
}

// Transition counts a state change and moves the check's up gauge to the
// new state. Call it in the process that sees every transition (each API
// server, from the transitions fanout), not in workers, which see only
// their own.
func (m *Metrics) Transition(t check.Transition) {
	if m == nil {
		return
	}
	if c, ok := m.transitions[t.To]; ok {
		c.Inc()
	}
	m.SetState(t.CheckID, t.Service, t.To)
}

// SetState sets a check's up gauge without counting a transition. Use it to
// seed the gauge from the store on start, since transitions alone would
// leave it empty until each check next changes state. UP sets 1, DOWN sets
// 0, and UNKNOWN, PAUSED or anything else removes the series: there is no
// measured value to report, and a stale 1 or 0 would be a lie.
func (m *Metrics) SetState(checkID, service string, s check.State) {
	if m == nil {
		return
	}
	switch s {
	case check.StateUp:
		m.SetCheckUp(checkID, service, 1)
	case check.StateDown:
		m.SetCheckUp(checkID, service, 0)
	default:
		m.clearCheckUp(checkID)
	}
}

// SetCheckUp sets the check's up gauge to up (1 UP, 0 DOWN), moving the
// series when the check's service name changed since the last call.
func (m *Metrics) SetCheckUp(checkID, service string, up float64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(checkID)
	e.service, e.up, e.hasUp = service, up, true
	m.setSeries(checkID, e)
}

// CheckDeleted removes the check's up series: call it when a check is
// deleted (paused checks are handled by Transition).
func (m *Metrics) CheckDeleted(checkID string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.checks[checkID]; ok {
		if e.series != nil {
			m.checkUp.DeleteLabelValues(e.series...)
		}
		delete(m.checks, checkID)
	}
	m.facts.forget(checkID)
}

// Dispatched records jobs the scheduler published in one claim, and how far
// behind each one's grid point the claim ran. A negative lag (the database
// clock a little ahead of this process's) counts as zero.
func (m *Metrics) Dispatched(jobs []check.Job, claimedAt time.Time) {
	if m == nil || len(jobs) == 0 {
		return
	}
	m.jobsPublished.Add(float64(len(jobs)))
	for i := range jobs {
		m.scheduleLag.Observe(max(claimedAt.Sub(jobs[i].ScheduledAt), 0).Seconds())
	}
}

// JobConsumed counts one job a worker received.
func (m *Metrics) JobConsumed(redelivered bool) {
	if m == nil {
		return
	}
	m.jobsConsumed.Inc()
	if redelivered {
		m.jobsRedelivered.Inc()
	}
}

// JobDeadLettered counts one job message a worker dead-lettered, and why
// (queue.DeadLetter*).
func (m *Metrics) JobDeadLettered(reason string) {
	if m == nil {
		return
	}
	m.jobsDeadLettered.WithLabelValues(reason).Inc()
}

// JobUnpublishable counts one job the scheduler could not publish, and why
// (queue.Unpublishable*).
func (m *Metrics) JobUnpublishable(reason string) {
	if m == nil {
		return
	}
	m.jobsSkipped.WithLabelValues(reason).Inc()
}

// JobShed counts one job a worker acked without probing it because it
// was too late, and why (worker.ShedStale, worker.ShedQueued): a tick
// missed for that reason.
func (m *Metrics) JobShed(reason string) {
	if m == nil {
		return
	}
	m.ticksMissed.WithLabelValues(reason).Inc()
}

// TicksOverloaded counts n ticks the scheduler's admission control left
// unpublished because the workers were behind (scheduler.Config.OnOverload):
// ticks missed for the reason "overload".
func (m *Metrics) TicksOverloaded(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.ticksOverload.Add(float64(n))
}

// TicksSkipped counts n ticks a scheduler's claim passed over without
// publishing them, for reason (scheduler.Config.OnSkipped).
func (m *Metrics) TicksSkipped(reason string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.ticksMissed.WithLabelValues(reason).Add(float64(n))
}

// WorkerOverloaded exposes vigil_worker_overloaded, read from overloaded
// at every scrape (worker.Worker.Overloaded). Only workers call it, so the
// series is absent elsewhere; calling it again replaces overloaded.
func (m *Metrics) WorkerOverloaded(overloaded func() bool) {
	if m == nil || overloaded == nil {
		return
	}
	m.overloaded.Store(&overloaded)
	m.overloadOnce.Do(func() {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "worker_overloaded",
			Help: "1 while this worker has shed a late job (stale or queued) within the last 30 seconds (see vigil_ticks_missed_total), else 0.",
		}, func() float64 {
			if (*m.overloaded.Load())() {
				return 1
			}
			return 0
		}))
	})
}

// WebSocketClients exposes vigil_websocket_clients, read from count at
// every scrape. Only processes that serve WebSocket clients call it, so the
// series is absent elsewhere; calling it again replaces count.
func (m *Metrics) WebSocketClients(count func() int) {
	if m == nil || count == nil {
		return
	}
	m.wsClients.Store(&count)
	m.wsOnce.Do(func() {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Name: "websocket_clients",
			Help: "WebSocket clients connected to this process.",
		}, func() float64 { return float64((*m.wsClients.Load())()) }))
	})
}
