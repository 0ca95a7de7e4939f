package queue

import (
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// Defaults applied by Config for fields left zero.
const (
	DefaultJobQueue      = "vigil.jobs"
	DefaultTransitions   = "vigil.transitions"
	DefaultReconnectMin  = 100 * time.Millisecond //nolint:revive // Min is the minimum, as in Config.ReconnectMin, not minutes
	DefaultReconnectMax  = 10 * time.Second
	DefaultRequeueDelay  = time.Second
	DefaultShutdownGrace = 30 * time.Second
	// DefaultMaxHold is the workers' default stale bound
	// (worker.DefaultMaxJobAge): a job held that long is one the worker
	// sheds anyway, so starting it ahead of fresh ones costs an ack, not a
	// late probe.
	DefaultMaxHold            = 60 * time.Second
	DefaultDialTimeout        = 10 * time.Second
	DefaultJobsPerMessage     = 50
	DefaultMaxDeliveries      = 6
	DefaultMaxMessageBytes    = 1 << 20
	DefaultStatusQueueLength  = 100_000
	defaultSubscriberPrefetch = 64
	// maxRequeueDelay caps the doubling of RequeueDelay (see Config), so
	// that a large MaxDeliveries does not park a message for hours.
	maxRequeueDelay = 30 * time.Second
)

// Why a job message went to the dead-letter queue; the reason is the
// OnDeadLetter argument and the x-vigil-dead-reason header of what we
// dead-letter ourselves.
const (
	// DeadLetterMalformed: the body holds no valid jobs.
	DeadLetterMalformed = "malformed"
	// DeadLetterHandler: a handler returned DeadLetter for the job.
	DeadLetterHandler = "handler"
	// DeadLetterMaxDeliveries: the job failed on its last allowed delivery.
	DeadLetterMaxDeliveries = "max_deliveries"
)

// Why PublishJobs skipped a job; the OnUnpublishable argument.
const (
	// UnpublishableTooLarge: the job alone exceeds MaxMessageBytes.
	UnpublishableTooLarge = "too_large"
	// UnpublishableInvalid: the job fails the checks every worker applies,
	// so no worker could run it.
	UnpublishableInvalid = "invalid"
)

// Config says where the broker is, what the topology is called and how to
// behave when the connection drops. Only URL is required.
type Config struct {
	// URL is the broker's AMQP URI, e.g. amqp://guest:guest@127.0.0.1:5672/.
	URL string
	// JobQueue names the durable jobs queue; its dead-letter exchange and
	// queue are JobQueue+".dlx" and JobQueue+".dead". Default "vigil.jobs".
	JobQueue string
	// Region is the region whose jobs ConsumeJobs takes (a worker's
	// VIGIL_REGION). Empty or check.DefaultRegion: the JobQueue itself, as
	// before regions existed. Any other region: JobQueueFor(Region), which
	// ConsumeJobs declares (see declareRegionJobs). Publishers ignore it:
	// they route each job by its own region.
	Region string
	// Transitions names the fanout exchange transitions are published to.
	// Default "vigil.transitions".
	Transitions string
	// JobsPerMessage is the most jobs PublishJobs puts in one message. A
	// message costs the broker the same to persist, confirm, deliver and
	// ack whatever it carries, so more jobs per message is less broker CPU
	// per probe. But a message is settled as a whole once all its jobs are
	// done: a requeue or a crash runs all of them again, and a consumer
	// holds up to Prefetch × JobsPerMessage jobs. A message of one job keeps
	// the one-object format (see docs/operations.md on upgrading). Default
	// 50; at most MaxJobsPerMessage.
	JobsPerMessage int
	// Prefetch bounds the unacknowledged messages a consumer holds. Zero
	// means 64 for SubscribeTransitions, and for ConsumeJobs the job
	// concurrency plus an eighth of it (at least one more).
	//
	// Why that many for jobs: a message is acknowledged only once its
	// slowest job is done, so a message whose other jobs finished long ago
	// still counts against Prefetch while one probe waits out a dead
	// target's timeout. With Prefetch at least the concurrency every
	// handler can be kept busy however slow jobs are spread over messages
	// (each held message either still has jobs to start or keeps a handler
	// busy); with fewer, a few unreachable targets in different messages
	// starve the pool, breaking the capacity rule of docs/benchmarks.md
	// (concurrency ≥ probes/s × slowest probe). The extra eighth is
	// messages ready to start while acks travel to the broker and new
	// deliveries come back, which matters when messages carry one job.
	// The price: a worker that is behind can hold up to Prefetch ×
	// JobsPerMessage jobs that an idle worker cannot take. That is about
	// JobsPerMessage probe durations of work, little when probes are fast,
	// minutes when every target times out; set Prefetch lower, or publish
	// fewer jobs per message, where that matters more than throughput
	// behind slow targets. A hoard no longer makes results late beyond a
	// bound: the worker acks without a probe every job that is too late by
	// the time its turn comes (worker.Config.MaxJobAge), which takes
	// microseconds. What it still costs is the jobs it sheds that an idle
	// worker could have probed in time.
	Prefetch int
	// MaxHold bounds how long ConsumeJobs holds a delivered job before it
	// starts it ahead of newer ones. Jobs start newest message first:
	// while the worker keeps up nothing waits and the order does not
	// matter, and when it cannot, the jobs that run are the freshest, so
	// they run on time, while what it holds ages until the handler sheds
	// it (a worker's stale bound). A first-in, first-out worker under
	// overload runs every job as late as its whole prefetch (an interval
	// of lag, docs/benchmarks.md "Overload"). A message held for MaxHold
	// is started before newer ones, so that nothing is held for ever (the
	// broker closes a channel whose message stays unacked for its
	// consumer timeout) and the handler decides what it is worth. Zero
	// takes DefaultMaxHold; negative starts jobs oldest first, as before.
	MaxHold time.Duration
	// now is ConsumeJobs' clock for MaxHold; nil is time.Now. Tests set it.
	now func() time.Time
	// onHeld, when set, sees how many messages ConsumeJobs holds with
	// jobs not yet started, each time it takes a delivery. Tests set it.
	onHeld func(n int)
	// ConnectionName is shown in the broker's connection list (e.g.
	// "vigil-worker"), which is how an operator tells replicas apart.
	ConnectionName string
	// MaxMessageBytes is the most body bytes PublishJobs puts in one job
	// message, on top of JobsPerMessage. It keeps every message well under
	// the broker's max_message_size (16 MiB by default in RabbitMQ 4),
	// whose breach fails the whole batch. A job that alone exceeds it is
	// not published (see PublishJobs). Registered checks are bounded to a
	// few KiB per job, so the default of 1 MiB only ever stops a job that
	// got past those bounds.
	MaxMessageBytes int
	// MaxDeliveries bounds how many times a job is run before a failure
	// (Requeue) sends it to the dead-letter queue instead of back to the
	// jobs queue. Default 6: with RequeueDelay doubling from 1s the retries
	// span 1+2+4+8+16 = 31s, as long as the scheduler's default catch-up
	// window, so a database restart that the scheduler rides out does not
	// dead-letter jobs either; a job that can never be recorded costs six
	// probes of its target, not an endless loop. At least 1.
	MaxDeliveries int
	// StatusQueueLength bounds a durable SubscribeTransitions queue (the
	// operator's status queue): beyond it the oldest transitions are
	// dropped. Default 100000, about 30 MB of typical transitions.
	StatusQueueLength int
	// Logger receives reconnects, dead-lettered messages and handler
	// panics. Nil logs nothing.
	Logger *zap.Logger
	// OnDeadLetter, when set, is called for every job message sent to the
	// dead-letter queue, with why (DeadLetterMalformed, DeadLetterHandler,
	// DeadLetterMaxDeliveries), for the dead-lettered metric. A message
	// the consumer dead-letters holds only the jobs that are dead, usually
	// one.
	OnDeadLetter func(reason string)
	// OnUnpublishable, when set, is called for every job PublishJobs
	// skipped because no message could carry it, with why
	// (UnpublishableTooLarge, UnpublishableInvalid).
	OnUnpublishable func(reason string)
	// OnSubscribed, when set, is called each time SubscribeTransitions has
	// (re)bound its queue and is consuming. An exclusive subscriber misses
	// what was published while it was away; this is its cue to catch up
	// from the transitions table.
	OnSubscribed func()

	// ReconnectMin and ReconnectMax bound the delay between connection
	// attempts; it doubles from min to max with jitter. Defaults 100ms, 10s.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// DialTimeout bounds one TCP connect plus AMQP handshake. Default 10s.
	DialTimeout time.Duration
	// RequeueDelay is how long a message some handler asked to requeue
	// waits before its failed jobs go back to the queue, after their first
	// delivery; it doubles with every further delivery, up to 30s. Without
	// it a failing dependency (the database is down) turns every message
	// into a hot loop of deliveries; the wait holds the concurrency slot of
	// the message's last job, and the message counts against Prefetch until
	// it is settled, which throttles the consumer as a whole. Default 1s;
	// negative means none.
	RequeueDelay time.Duration
	// ShutdownGrace is how long ConsumeJobs lets in-flight handlers run
	// after its context is cancelled before it cancels their context too.
	// Default 30s.
	ShutdownGrace time.Duration
}

// withDefaults returns cfg with every zero field defaulted, or an error
// when a field cannot work. Validating up front turns a typo in
// VIGIL_AMQP_URL into a startup error instead of an endless reconnect loop.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.URL == "" {
		return cfg, errors.New("queue config: URL is required")
	}
	if _, err := amqp.ParseURI(cfg.URL); err != nil {
		// ParseURI errors may echo the URI, which can hold a password.
		return cfg, errors.New("queue config: URL is not a valid amqp:// or amqps:// URI")
	}
	if cfg.JobQueue == "" {
		cfg.JobQueue = DefaultJobQueue
	}
	if cfg.Transitions == "" {
		cfg.Transitions = DefaultTransitions
	}
	if cfg.Region != "" && !check.IsRegionName(cfg.Region) {
		return cfg, fmt.Errorf("queue config: Region %q is not a region name (a lowercase DNS label)", cfg.Region)
	}
	if err := checkCounts(&cfg); err != nil {
		return cfg, err
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = DefaultReconnectMin
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = DefaultReconnectMax
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.RequeueDelay == 0 {
		cfg.RequeueDelay = DefaultRequeueDelay
	}
	if cfg.RequeueDelay < 0 {
		cfg.RequeueDelay = 0
	}
	if cfg.MaxHold == 0 {
		cfg.MaxHold = DefaultMaxHold
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	return cfg, nil
}

// checkCounts refuses negative and oversized counts of cfg and defaults the
// zero ones in place. A function rather than a method: Config's methods
// take a copy, and this one must not.
func checkCounts(cfg *Config) error {
	if cfg.Prefetch < 0 {
		return fmt.Errorf("queue config: Prefetch must not be negative, got %d", cfg.Prefetch)
	}
	if cfg.JobsPerMessage > MaxJobsPerMessage {
		return fmt.Errorf("queue config: JobsPerMessage must be at most %d, got %d", MaxJobsPerMessage, cfg.JobsPerMessage)
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"JobsPerMessage", &cfg.JobsPerMessage, DefaultJobsPerMessage},
		{"MaxMessageBytes", &cfg.MaxMessageBytes, DefaultMaxMessageBytes},
		{"MaxDeliveries", &cfg.MaxDeliveries, DefaultMaxDeliveries},
		{"StatusQueueLength", &cfg.StatusQueueLength, DefaultStatusQueueLength},
	} {
		switch {
		case *f.v < 0:
			return fmt.Errorf("queue config: %s must not be negative, got %d", f.name, *f.v)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	return nil
}

// requeueDelay is how long failed jobs of a message delivered for the
// attempt'th time wait before they go back: RequeueDelay, doubled for every
// delivery after the first, capped at maxRequeueDelay (or RequeueDelay, if
// that is longer).
func (cfg Config) requeueDelay(attempt int) time.Duration {
	d := cfg.RequeueDelay
	if d <= 0 {
		return 0
	}
	limit := max(maxRequeueDelay, d)
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// RegionJobTTL is how long a job waits in a region's queue before the
// broker drops it (the queue's x-message-ttl; each message also expires
// after its jobs' longest interval, see packJobs). A region whose workers
// are all gone thus holds at most this much of its jobs rather than an
// ever-growing backlog, and when its workers come back they start from
// fresh ticks, not from an hour of stale ones. Five minutes: longer than
// the interval of nearly every check (so a worker restart loses no tick of
// them) and short enough that a dead region's queue stays small (at 10,000
// checks every 10s, 300,000 jobs in ~6,000 messages). A check with a longer
// interval loses a tick in a region only when that tick waited more than
// five minutes, by which time the worker would shed it anyway. It is a
// constant on purpose: RabbitMQ refuses to redeclare a queue with other
// arguments, so changing it means a new queue name.
const RegionJobTTL = 5 * time.Minute

// JobQueueFor names the queue of region's jobs: JobQueue for the default
// region (and ""), JobQueue + ".region." + region for any other. The
// ".region." infix keeps a region called "dead" off the dead-letter queue.
func (cfg Config) JobQueueFor(region string) string {
	if region == "" || region == check.DefaultRegion {
		return cfg.JobQueue
	}
	return cfg.JobQueue + ".region." + region
}

func (cfg Config) deadLetterExchange() string { return cfg.JobQueue + ".dlx" }
func (cfg Config) deadLetterQueue() string    { return cfg.JobQueue + ".dead" }
