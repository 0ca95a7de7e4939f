package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// Outcome is what a handler wants done with a job's message.
type Outcome int

const (
	// Ack removes the message: the job is done (a failed probe is done too).
	Ack Outcome = iota
	// Requeue returns the message to the queue for another attempt, after
	// Config.RequeueDelay. Use it for failures of our own, such as the
	// database being unreachable.
	Requeue
	// DeadLetter moves the message to the dead-letter queue: it can never
	// succeed and must not be retried.
	DeadLetter
)

func (o Outcome) String() string {
	switch o {
	case Ack:
		return "ack"
	case Requeue:
		return "requeue"
	case DeadLetter:
		return "dead-letter"
	default:
		return "outcome(" + strconv.Itoa(int(o)) + ")"
	}
}

// Delivery is what a handler learns about a job besides the job itself.
type Delivery struct {
	// Redelivered is set when the job may have run before: it failed and
	// was requeued (Attempt > 1), or the broker delivered its message before
	// without it being settled. Every job of such a message sees it, also
	// one that was done the first time: the worker died or lost its
	// connection before the message was settled.
	Redelivered bool
	// Attempt counts the deliveries of the job that ended in Requeue, plus
	// this one: 1 on its first delivery. Once it reaches
	// Config.MaxDeliveries a Requeue dead-letters the job instead.
	Attempt int
	// MessageID identifies the job, not its message: JobMessageID(job),
	// "<check_id>/<scheduled_at unix ms>", however many jobs the message
	// carried.
	MessageID string
	// PublishedAt is when the job's message was published (a retry: when
	// it was published again), by the publisher's clock; zero for a
	// message without the time (from a publisher that predates it, or
	// moved back from the dead-letter queue). How long a job waited since
	// is how far behind the workers are, which the job's tick cannot tell
	// for a tick the scheduler dispatched late on purpose (catch-up).
	PublishedAt time.Time
}

// JobHandler processes one job. Its context is not cancelled when
// ConsumeJobs is asked to stop, only once Config.ShutdownGrace has passed
// after that, so an in-flight probe can finish and be recorded.
type JobHandler func(ctx context.Context, job check.Job, d Delivery) Outcome

// ConsumeJobs consumes the jobs queue until ctx is cancelled, reconnecting
// with backoff whenever the connection drops. A message carries one job or
// many (see DecodeJobs) and the handler runs once per job. At most
// concurrency handlers run at once, counted in jobs, also across reconnects;
// Config.Prefetch bounds the messages held unacknowledged. Held jobs start
// newest message first, the oldest first once it was held for
// Config.MaxHold (see there).
//
// A message is settled once the handlers of all its jobs have returned.
// When every job returned Ack the message is acked. Otherwise each job goes
// its own way, and the broker is told only what it can do with a whole
// message: the jobs that returned Requeue (a panic or an unknown outcome
// counts as Requeue) are published again, after a delay (see
// Config.RequeueDelay), as a new message of just those jobs whose attempt
// header (x-vigil-attempt) is one higher; the jobs that returned DeadLetter,
// and those that returned Requeue on their Config.MaxDeliveries'th attempt,
// are published to the dead-letter exchange, as a message of just those jobs
// whose x-vigil-dead-reason header says why; then, once the broker has
// confirmed those, the original message is acked. A job that keeps failing
// therefore cannot make the jobs beside it run again, and ends up in the
// dead-letter queue after a bounded number of deliveries. Classic queues do
// not count deliveries themselves, hence the header; a message without it
// (published before it existed) is on its first attempt. Should the
// consumer die between publishing and acking, the broker redelivers the
// original too: the jobs run twice, which is safe, since results are
// idempotent per check and tick. Should publishing fail, the original is
// requeued as a whole, as it always was, and not counted.
//
// A body that does not decode into valid jobs is rejected without requeue,
// so it lands in the dead-letter queue once and is logged; the handler sees
// none of its jobs.
//
// When ctx is cancelled ConsumeJobs stops taking deliveries and starting
// jobs, returns the prefetched messages none of whose jobs started to the
// queue, waits for in-flight handlers and settles their messages (the jobs
// of a message that never started are published again with the attempt
// count they had: a stop is not a failure), closes the connection and
// returns nil. It returns an error only for an unusable configuration.
func ConsumeJobs(ctx context.Context, cfg Config, concurrency int, h JobHandler) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if concurrency < 1 {
		return fmt.Errorf("consume jobs: concurrency must be at least 1, got %d", concurrency)
	}
	if h == nil {
		return errors.New("consume jobs: handler is nil")
	}
	prefetch := cfg.Prefetch
	if prefetch == 0 {
		prefetch = jobPrefetch(concurrency)
	}
	// Handlers outlive ctx on purpose (see JobHandler); the grace timer
	// below is what finally cancels them.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	queue := cfg.JobQueueFor(cfg.Region)
	c := &jobConsumer{
		cfg:      cfg,
		queue:    queue,
		log:      cfg.Logger.With(zap.String("component", "queue.consumer"), zap.String("queue", queue)),
		handler:  h,
		slots:    make(chan struct{}, concurrency),
		tasks:    make(chan func()),
		stopping: ctx.Done(),
		now:      cfg.now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	defer c.startPool(concurrency)()
	defer c.cancelAfterGrace(ctx, cancelHandlers)()

	declare := declareJobs(&cfg)
	if queue != cfg.JobQueue {
		declare = declareAll(declare, declareRegionJobs(&cfg, cfg.Region))
	}
	r := reconnecting{cfg: &cfg, log: c.log, declare: declare,
		use: func(ctx context.Context, s *session) error {
			return c.consume(ctx, handlerCtx, s, prefetch)
		},
		lost: "job consumer lost its connection, reconnecting"}
	r.run(ctx)
	// Handlers of a lost session may still be running; their messages are
	// back in the queue already, but the caller expects none to run once
	// ConsumeJobs has returned.
	c.handlers.Wait()
	return nil
}

// jobConsumer is one ConsumeJobs call: its settings, the pool that runs
// handlers and what tells them to stop.
type jobConsumer struct {
	cfg      Config
	queue    string // cfg.JobQueueFor(cfg.Region)
	log      *zap.Logger
	handler  JobHandler
	slots    chan struct{} // one token per running handler
	tasks    chan func()   // feeds the pool of handler goroutines
	handlers sync.WaitGroup
	stopping <-chan struct{}
	now      func() time.Time
}

// startPool starts the fixed pool of handler goroutines and returns what
// stops it once no task is sent any more. A pool rather than a goroutine per
// job: a probe runs deep in net/http and pgx, and a fresh goroutine grows
// (copies) its stack on every job, a large share of a busy worker's CPU
// (docs/benchmarks.md).
func (c *jobConsumer) startPool(size int) (stop func()) {
	var pool sync.WaitGroup
	for range size {
		pool.Go(func() {
			for task := range c.tasks {
				task()
			}
		})
	}
	return func() {
		close(c.tasks)
		pool.Wait()
	}
}

// cancelAfterGrace calls cancel once ShutdownGrace has passed since ctx
// ended, unless the returned func is called first (ConsumeJobs returned).
func (c *jobConsumer) cancelAfterGrace(ctx context.Context, cancel context.CancelFunc) (finished func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		grace := time.NewTimer(c.cfg.ShutdownGrace)
		defer grace.Stop()
		select {
		case <-done:
		case <-grace.C:
			c.log.Warn("job handlers still running after the shutdown grace period, cancelling them")
			cancel()
		}
	}()
	return func() { close(done) }
}

// jobPrefetch is ConsumeJobs' default Prefetch for a concurrency: the
// concurrency itself, so that messages held back by one slow job cannot
// starve the pool, plus an eighth for deliveries in transit. Config.Prefetch
// explains the trade-off.
func jobPrefetch(concurrency int) int {
	return concurrency + (concurrency+7)/8
}

// heldMessage is a delivery whose jobs are being run. Whoever ends its last
// job settles it, with the outcomes of its jobs.
type heldMessage struct {
	d           amqp.Delivery
	jobs        []check.Job
	attempt     int       // see Delivery.Attempt
	publishedAt time.Time // see Delivery.PublishedAt
	received    time.Time // when the consume loop took it, for Config.MaxHold
	next        int       // the jobs before it have started; the consume loop's alone

	mu       sync.Mutex
	left     int       // jobs neither finished nor given up
	outcomes []Outcome // per job; notStarted for those given up
}

// notStarted marks a job of a held message that never ran: the consumer
// stopped or lost its session first.
const notStarted Outcome = -1

// finish records that the jobs of m from index i on, n of them, ended with
// o, and reports whether they were the last.
func (m *heldMessage) finish(i, n int, o Outcome) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for j := i; j < i+n; j++ {
		m.outcomes[j] = o
	}
	m.left -= n
	return m.left == 0
}

// consume runs one session: it returns nil after a graceful stop (ctx
// cancelled) and the reason otherwise.
//
// One loop takes every delivery as it arrives and starts jobs as slots
// free up, so what the worker holds is its own to order (Config.MaxHold):
// the newest message's jobs start first, unless the oldest message has
// been held for MaxHold. held is the delivered messages with jobs not yet
// started, oldest first; only this loop touches it.
func (c *jobConsumer) consume(ctx, handlerCtx context.Context, s *session, prefetch int) error {
	tag, deliveries, err := c.open(s, prefetch)
	if err != nil {
		s.close()
		return err
	}
	var (
		inflight sync.WaitGroup
		held     []*heldMessage
	)
	for {
		var slots chan<- struct{} // nil, so never ready, while nothing is held
		if len(held) > 0 {
			slots = c.slots
		}
		select {
		case <-ctx.Done():
			c.abandonHeld(s, held)
			c.stop(s, tag, deliveries, &inflight)
			return nil
		case d, ok := <-deliveries:
			if !ok {
				// The channel closed under us, or the broker cancelled
				// the consumer (say the queue was deleted). The messages
				// our handlers hold are requeued by the broker; their
				// acks will fail and be logged.
				c.abandonHeld(s, held)
				endSession(s)
				return fmt.Errorf("deliveries stopped: %w", s.err)
			}
			// Decoded here rather than on the pool: how many slots the
			// message needs is in its body.
			jobs, err := DecodeJobs(d.Body)
			if err != nil {
				c.rejectMalformed(s, &d, err)
				continue
			}
			held = append(held, &heldMessage{d: d, jobs: jobs,
				attempt: attemptOf(&d), publishedAt: publishedAtOf(&d), received: c.now(),
				left: len(jobs), outcomes: make([]Outcome, len(jobs))})
			if c.cfg.onHeld != nil {
				c.cfg.onHeld(len(held))
			}
		case slots <- struct{}{}:
			if ctx.Err() != nil || s.closed() {
				// No job starts after a stop, even with a slot free; nor
				// once the session is gone, since the broker has taken
				// the messages back. The deliveries channel closing (or
				// ctx) ends the loop next.
				<-c.slots
				c.abandonHeld(s, held)
				held = nil
				continue
			}
			var m *heldMessage
			held, m = c.pick(held)
			c.run(handlerCtx, s, m, m.next-1, &inflight)
		}
	}
}

// pick takes the next job to start from held and returns held without the
// message if that was its last job. The job is the oldest message's if it
// has been held for Config.MaxHold (or MaxHold is negative), the newest
// message's otherwise; m.next-1 is its index.
func (c *jobConsumer) pick(held []*heldMessage) ([]*heldMessage, *heldMessage) {
	i := len(held) - 1
	if c.cfg.MaxHold < 0 || c.now().Sub(held[0].received) >= c.cfg.MaxHold {
		i = 0
	}
	m := held[i]
	m.next++
	if m.next == len(m.jobs) {
		held = slices.Delete(held, i, i+1)
	}
	return held, m
}

// abandonHeld gives up the jobs of held that have not started.
func (c *jobConsumer) abandonHeld(s *session, held []*heldMessage) {
	for _, m := range held {
		c.abandon(s, m, m.next)
	}
}

// open sets s up for consuming jobs and starts the consumer, returning its
// tag and deliveries.
func (c *jobConsumer) open(s *session, prefetch int) (string, <-chan amqp.Delivery, error) {
	if err := s.ch.Qos(prefetch, 0, false); err != nil {
		return "", nil, fmt.Errorf("set prefetch: %w", err)
	}
	// Settling a message whose jobs went different ways publishes them
	// (see ConsumeJobs), on a channel of its own: a publish the broker
	// refuses closes its channel, which must not take the deliveries with it.
	if err := s.openPublishing(); err != nil {
		return "", nil, err
	}
	tag := consumerTag(c.cfg.ConnectionName)
	deliveries, err := s.ch.Consume(c.queue, tag, false, false, false, false, nil)
	if err != nil {
		return "", nil, fmt.Errorf("consume %s: %w", c.queue, err)
	}
	return tag, deliveries, nil
}

// run hands job i of m to the pool; a slot is held for it, so one of the
// pool's goroutines is free.
func (c *jobConsumer) run(handlerCtx context.Context, s *session, m *heldMessage, i int, inflight *sync.WaitGroup) {
	inflight.Add(1)
	c.handlers.Add(1)
	c.tasks <- func() {
		defer func() {
			<-c.slots
			inflight.Done()
			c.handlers.Done()
		}()
		c.handle(handlerCtx, s, m, i)
	}
}

// abandon gives up the jobs of m from index from on, which have not
// started. A message none of whose jobs started goes straight back to the
// queue; otherwise the last of its started jobs to finish settles it.
func (c *jobConsumer) abandon(s *session, m *heldMessage, from int) {
	if !m.finish(from, len(m.jobs)-from, notStarted) {
		return
	}
	if from == 0 {
		requeue(s, &m.d, c.log)
		return
	}
	c.settle(s, m)
}

// stop is the graceful half of consume: cancel the consumer so the broker
// sends nothing more, hand back what was prefetched but not started, let
// running handlers settle their messages, then close.
func (c *jobConsumer) stop(s *session, tag string, deliveries <-chan amqp.Delivery, inflight *sync.WaitGroup) {
	if err := s.ch.Cancel(tag, false); err != nil {
		c.log.Warn("cancel job consumer", zap.Error(err))
	}
	// After cancel-ok the library closes deliveries once it handed over
	// everything that arrived before; on a dead channel it closes it too.
	returned := 0
	for d := range deliveries {
		requeue(s, &d, c.log)
		returned++
	}
	if returned > 0 {
		c.log.Info("returned prefetched job messages to the queue", zap.Int("messages", returned))
	}
	inflight.Wait()
	s.close()
}

// rejectMalformed dead-letters a body that holds no valid jobs: it can never
// succeed, and the handler must not see any part of it.
func (c *jobConsumer) rejectMalformed(s *session, d *amqp.Delivery, err error) {
	c.log.Error("dead-lettering malformed job message",
		zap.String("message_id", d.MessageId), zap.Bool("redelivered", d.Redelivered), zap.Error(err))
	if err := s.ch.Reject(d.DeliveryTag, false); err != nil {
		c.log.Warn("reject malformed job message", zap.String("message_id", d.MessageId), zap.Error(err))
	} else if c.cfg.OnDeadLetter != nil {
		c.cfg.OnDeadLetter(DeadLetterMalformed)
	}
}

// handle runs the handler for job i of m and settles m if that was the
// last of its jobs.
func (c *jobConsumer) handle(ctx context.Context, s *session, m *heldMessage, i int) {
	job := &m.jobs[i]
	outcome := c.call(ctx, job, Delivery{
		Redelivered: m.d.Redelivered || m.attempt > 1,
		Attempt:     m.attempt,
		MessageID:   JobMessageID(*job),
		PublishedAt: m.publishedAt,
	})
	switch outcome {
	case Ack, Requeue, DeadLetter:
	default:
		c.log.Error("handler returned an unknown outcome, requeueing",
			jobFields(job, zap.Stringer("outcome", outcome))...)
		outcome = Requeue
	}
	if m.finish(i, 1, outcome) {
		c.settle(s, m)
	}
}

// call runs the handler, turning a panic into Requeue so one bad job cannot
// take the worker down.
func (c *jobConsumer) call(ctx context.Context, job *check.Job, d Delivery) (outcome Outcome) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("job handler panicked, requeueing",
				jobFields(job, zap.Any("panic", r), zap.Stack("stack"))...)
			outcome = Requeue
		}
	}()
	return c.handler(ctx, *job, d)
}

// jobFields are the log fields naming a job, built only when something is
// logged: a logger With them for every job would cost an allocation per
// probe on the hot path.
func jobFields(job *check.Job, more ...zap.Field) []zap.Field {
	return append([]zap.Field{zap.String("service", job.Service), zap.String("check_id", job.CheckID)}, more...)
}

// requeue hands a message back without running it.
func requeue(s *session, d *amqp.Delivery, log *zap.Logger) {
	if err := s.ch.Nack(d.DeliveryTag, false, true); err != nil {
		log.Debug("requeue unstarted message", zap.String("message_id", d.MessageId), zap.Error(err))
	}
}

// consumerTag is unique per consumer so the broker's listing tells replicas
// apart and a reconnect never collides with the tag of a dying channel.
func consumerTag(name string) string {
	if name == "" {
		name = "vigil"
	}
	return name + "-" + strconv.FormatUint(rand.Uint64(), 36)
}

// endSession closes s after its deliveries stopped. When the connection died
// the close notice is racing the closed deliveries, so wait a moment for it
// to keep the real reason; when the broker merely cancelled the consumer
// nothing will come and the session is closed by us.
func endSession(s *session) {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		s.close()
	}
}
