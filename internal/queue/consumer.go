package queue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Delivery is what a handler learns about a job besides the job itself.
type Delivery struct {
	// Redelivered is set when the broker delivered the job's message
	// before, to this or another consumer, without it being acknowledged.
	// Every job of such a message sees it, also one that was done the first
	// time: another job of the message was requeued, or the worker stopped
	// or died before the message was settled.
	Redelivered bool
	// MessageID identifies the job, not its message: JobMessageID(job),
	// "<check_id>/<scheduled_at unix ms>", however many jobs the message
	// carried.
	MessageID string
}

// JobHandler processes one job. Its context is not cancelled when
// ConsumeJobs is asked to stop, only once Config.ShutdownGrace has passed
// after that, so an in-flight probe can finish and be recorded.
type JobHandler func(ctx context.Context, job check.Job, d Delivery) Outcome

// ConsumeJobs consumes the jobs queue until ctx is cancelled, reconnecting
// with backoff whenever the connection drops. A message carries one job or
// many (see DecodeJobs) and the handler runs once per job. At most
// concurrency handlers run at once, counted in jobs, also across reconnects;
// Config.Prefetch bounds the messages held unacknowledged.
//
// A message is settled once the handlers of all its jobs have returned, as
// a whole, since that is all the broker can do with it: acked when every job
// returned Ack; requeued, after Config.RequeueDelay, when any returned
// Requeue (a panic or an unknown outcome counts as Requeue); otherwise
// dead-lettered when any returned DeadLetter. Requeue wins over DeadLetter
// because the requeued job has not been done and must not end up unprobed in
// the dead-letter queue; the job that asked for the dead-letter queue asks
// again on the redelivery. A requeued message runs its finished jobs again,
// which is safe: results are idempotent per check and tick.
//
// A body that does not decode into valid jobs is rejected without requeue,
// so it lands in the dead-letter queue once and is logged; the handler sees
// none of its jobs.
//
// When ctx is cancelled ConsumeJobs stops taking deliveries and starting
// jobs, returns the prefetched messages none of whose jobs started to the
// queue, waits for in-flight handlers and settles their messages (a message
// some of whose jobs never started is requeued, so its finished jobs run
// again later), closes the connection and returns nil. It returns an error
// only for an unusable configuration.
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
	c := &jobConsumer{
		cfg:      cfg,
		log:      cfg.Logger.With(zap.String("component", "queue.consumer"), zap.String("queue", cfg.JobQueue)),
		handler:  h,
		slots:    make(chan struct{}, concurrency),
		tasks:    make(chan func()),
		stopping: ctx.Done(),
	}
	// A fixed pool of handler goroutines rather than one per job: a probe
	// runs deep in net/http and pgx, and a fresh goroutine grows (copies)
	// its stack on every job - 13% of a busy worker's CPU.
	var pool sync.WaitGroup
	for range concurrency {
		pool.Add(1)
		go func() {
			defer pool.Done()
			for task := range c.tasks {
				task()
			}
		}()
	}
	defer pool.Wait()
	defer close(c.tasks)

	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-finished:
			return
		case <-ctx.Done():
		}
		grace := time.NewTimer(cfg.ShutdownGrace)
		defer grace.Stop()
		select {
		case <-finished:
		case <-grace.C:
			c.log.Warn("job handlers still running after the shutdown grace period, cancelling them")
			cancelHandlers()
		}
	}()

	b := backoff{min: cfg.ReconnectMin, max: cfg.ReconnectMax}
	for {
		s, err := connectLoop(ctx, &cfg, &b, "queue.consumer", declareJobs(&cfg))
		if err != nil {
			break
		}
		started := time.Now()
		err = c.consume(ctx, handlerCtx, s, prefetch)
		if ctx.Err() != nil {
			break
		}
		c.log.Warn("job consumer lost its connection, reconnecting", zap.Error(err))
		if time.Since(started) >= stableAfter(&cfg) {
			b.reset()
		}
		if sleep(ctx, b.next()) != nil {
			break
		}
	}
	// Handlers of a lost session may still be running; their messages are
	// back in the queue already, but the caller expects none to run once
	// ConsumeJobs has returned.
	c.handlers.Wait()
	return nil
}

// jobPrefetch is ConsumeJobs' default Prefetch for a concurrency: the
// concurrency itself, so that messages held back by one slow job cannot
// starve the pool, plus an eighth for deliveries in transit. Config.Prefetch
// explains the trade-off.
func jobPrefetch(concurrency int) int {
	return concurrency + (concurrency+7)/8
}

type jobConsumer struct {
	cfg      Config
	log      *zap.Logger
	handler  JobHandler
	slots    chan struct{} // one token per running handler
	tasks    chan func()   // feeds the pool of handler goroutines
	handlers sync.WaitGroup
	stopping <-chan struct{}
}

// heldMessage is a delivery whose jobs are being run. Whoever ends its last
// job settles it, with the outcome its jobs add up to.
type heldMessage struct {
	d    amqp.Delivery
	jobs int // how many it carries

	mu      sync.Mutex
	left    int     // jobs neither finished nor given up
	outcome Outcome // Ack until a job says otherwise
}

// finish records that n of m's jobs ended with o. It reports whether they
// were the last, and then what m's outcome is.
func (m *heldMessage) finish(o Outcome, n int) (Outcome, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if outcomeRank(o) > outcomeRank(m.outcome) {
		m.outcome = o
	}
	m.left -= n
	return m.outcome, m.left == 0
}

// outcomeRank orders the outcomes of one message's jobs: the message gets
// the highest. See ConsumeJobs for why Requeue ranks above DeadLetter.
func outcomeRank(o Outcome) int {
	switch o {
	case Ack:
		return 0
	case DeadLetter:
		return 1
	default:
		return 2
	}
}

// consume runs one session: it returns nil after a graceful stop (ctx
// cancelled) and the reason otherwise.
func (c *jobConsumer) consume(ctx, handlerCtx context.Context, s *session, prefetch int) error {
	if err := s.ch.Qos(prefetch, 0, false); err != nil {
		s.close()
		return fmt.Errorf("set prefetch: %w", err)
	}
	tag := consumerTag(c.cfg.ConnectionName)
	deliveries, err := s.ch.Consume(c.cfg.JobQueue, tag, false, false, false, false, nil)
	if err != nil {
		s.close()
		return fmt.Errorf("consume %s: %w", c.cfg.JobQueue, err)
	}
	var inflight sync.WaitGroup
	for {
		var d amqp.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			c.stop(s, tag, deliveries, &inflight)
			return nil
		case d, ok = <-deliveries:
		}
		if !ok {
			// The channel closed under us, or the broker cancelled the
			// consumer (say the queue was deleted). The messages our
			// handlers hold are requeued by the broker; their acks
			// will fail and be logged.
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
		m := &heldMessage{d: d, jobs: len(jobs), left: len(jobs)}
		for i := range jobs {
			if !c.acquire(ctx, s) {
				c.abandon(s, m, len(jobs)-i)
				break
			}
			inflight.Add(1)
			c.handlers.Add(1)
			job := &jobs[i]
			// A slot is held, so one of the pool's goroutines is free.
			c.tasks <- func() {
				defer func() {
					<-c.slots
					inflight.Done()
					c.handlers.Done()
				}()
				c.handle(handlerCtx, s, m, job)
			}
		}
		if ctx.Err() != nil {
			c.stop(s, tag, deliveries, &inflight)
			return nil
		}
	}
}

// acquire takes a handler slot for the next job. It says no once ConsumeJobs
// is stopping, even if a slot is free, so that no job starts after the stop;
// and once the session is gone, since the broker has taken the message back.
func (c *jobConsumer) acquire(ctx context.Context, s *session) bool {
	if ctx.Err() != nil || s.closed() {
		return false
	}
	select {
	case c.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// abandon gives up the n jobs of m that have not started. A message none of
// whose jobs started goes straight back to the queue; otherwise the last of
// its started jobs to finish requeues it.
func (c *jobConsumer) abandon(s *session, m *heldMessage, n int) {
	if _, last := m.finish(Requeue, n); !last {
		return
	}
	if n == m.jobs {
		requeue(s, &m.d, c.log)
		return
	}
	c.settle(s, m, Requeue)
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
		c.cfg.OnDeadLetter()
	}
}

// handle runs the handler for one job of m and settles m if that was the
// last of its jobs.
func (c *jobConsumer) handle(ctx context.Context, s *session, m *heldMessage, job *check.Job) {
	outcome := c.call(ctx, job, Delivery{Redelivered: m.d.Redelivered, MessageID: JobMessageID(*job)})
	switch outcome {
	case Ack, Requeue:
	case DeadLetter:
		c.log.Warn("handler asked to dead-letter a job, which takes its whole message",
			jobFields(job, zap.String("message_id", m.d.MessageId))...)
	default:
		c.log.Error("handler returned an unknown outcome, requeueing",
			jobFields(job, zap.Stringer("outcome", outcome))...)
		outcome = Requeue
	}
	if outcome, last := m.finish(outcome, 1); last {
		c.settle(s, m, outcome)
	}
}

// settle acks, requeues or dead-letters m as a whole.
func (c *jobConsumer) settle(s *session, m *heldMessage, outcome Outcome) {
	var err error
	switch outcome {
	case Ack:
		err = s.ch.Ack(m.d.DeliveryTag, false)
	case DeadLetter:
		c.log.Warn("dead-lettering job message at a handler's request",
			zap.String("message_id", m.d.MessageId), zap.Int("jobs", m.jobs))
		err = s.ch.Nack(m.d.DeliveryTag, false, false)
		if err == nil && c.cfg.OnDeadLetter != nil {
			c.cfg.OnDeadLetter()
		}
	default:
		c.waitBeforeRequeue(s)
		err = s.ch.Nack(m.d.DeliveryTag, false, true)
	}
	if err != nil {
		// The channel is gone, so the broker requeues the message itself
		// and someone sees it again with Redelivered set.
		c.log.Warn("settle job message failed, the broker will redeliver it",
			zap.String("message_id", m.d.MessageId), zap.Stringer("outcome", outcome), zap.Error(err))
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

// waitBeforeRequeue holds a message that is about to be requeued for
// RequeueDelay; a stop or a lost connection cuts the wait short.
func (c *jobConsumer) waitBeforeRequeue(s *session) {
	if c.cfg.RequeueDelay <= 0 {
		return
	}
	t := time.NewTimer(c.cfg.RequeueDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.stopping:
	case <-s.done:
	}
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
