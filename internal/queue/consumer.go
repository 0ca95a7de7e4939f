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

// Delivery is what a handler learns about a job's message besides the job.
type Delivery struct {
	// Redelivered is set when the broker delivered the message before,
	// to this or another consumer, without it being acknowledged.
	Redelivered bool
	// MessageID is "<check_id>/<scheduled_at unix ms>" for messages from
	// PublishJobs.
	MessageID string
}

// JobHandler processes one job. Its context is not cancelled when
// ConsumeJobs is asked to stop, only once Config.ShutdownGrace has passed
// after that, so an in-flight probe can finish and be recorded.
type JobHandler func(ctx context.Context, job check.Job, d Delivery) Outcome

// ConsumeJobs consumes the jobs queue until ctx is cancelled, reconnecting
// with backoff whenever the connection drops. At most concurrency handlers
// run at once, also across reconnects; Config.Prefetch (default twice the
// concurrency) bounds the messages held unacknowledged.
//
// A body that does not decode into a valid job is rejected without requeue,
// so it lands in the dead-letter queue once and is logged; the handler never
// sees it. A panicking handler is recovered and its job requeued.
//
// When ctx is cancelled ConsumeJobs stops taking deliveries, returns the
// prefetched messages no handler started to the queue, waits for in-flight
// handlers and acknowledges their messages, closes the connection and
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
		prefetch = 2 * concurrency
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
	// A fixed pool of handler goroutines rather than one per delivery: a
	// probe runs deep in net/http and pgx, and a fresh goroutine grows
	// (copies) its stack on every job - 13% of a busy worker's CPU.
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

type jobConsumer struct {
	cfg      Config
	log      *zap.Logger
	handler  JobHandler
	slots    chan struct{} // one token per running handler
	tasks    chan func()   // feeds the pool of handler goroutines
	handlers sync.WaitGroup
	stopping <-chan struct{}
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
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			requeue(s, &d, c.log)
			c.stop(s, tag, deliveries, &inflight)
			return nil
		}
		inflight.Add(1)
		c.handlers.Add(1)
		// A slot is held, so one of the pool's goroutines is free.
		c.tasks <- func() {
			defer func() {
				<-c.slots
				inflight.Done()
				c.handlers.Done()
			}()
			c.handle(handlerCtx, s, &d)
		}
	}
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
		c.log.Info("returned prefetched jobs to the queue", zap.Int("count", returned))
	}
	inflight.Wait()
	s.close()
}

// handle decodes, calls the handler and settles the message.
func (c *jobConsumer) handle(ctx context.Context, s *session, d *amqp.Delivery) {
	job, err := DecodeJob(d.Body)
	if err != nil {
		c.log.Error("dead-lettering malformed job message",
			zap.String("message_id", d.MessageId), zap.Bool("redelivered", d.Redelivered), zap.Error(err))
		if err := s.ch.Reject(d.DeliveryTag, false); err != nil {
			c.log.Warn("reject malformed job message", zap.String("message_id", d.MessageId), zap.Error(err))
		} else if c.cfg.OnDeadLetter != nil {
			c.cfg.OnDeadLetter()
		}
		return
	}
	log := c.log.With(zap.String("service", job.Service), zap.String("check_id", job.CheckID))
	outcome := c.call(ctx, log, job, Delivery{Redelivered: d.Redelivered, MessageID: d.MessageId})

	switch outcome {
	case Ack:
		err = s.ch.Ack(d.DeliveryTag, false)
	case DeadLetter:
		log.Warn("dead-lettering job at the handler's request", zap.String("message_id", d.MessageId))
		err = s.ch.Nack(d.DeliveryTag, false, false)
		if err == nil && c.cfg.OnDeadLetter != nil {
			c.cfg.OnDeadLetter()
		}
	default:
		if outcome != Requeue {
			log.Error("handler returned an unknown outcome, requeueing", zap.Stringer("outcome", outcome))
		}
		c.waitBeforeRequeue(s)
		err = s.ch.Nack(d.DeliveryTag, false, true)
	}
	if err != nil {
		// The channel is gone, so the broker requeues the message itself
		// and someone sees it again with Redelivered set.
		log.Warn("settle job message failed, the broker will redeliver it",
			zap.Stringer("outcome", outcome), zap.Error(err))
	}
}

// call runs the handler, turning a panic into Requeue so one bad job cannot
// take the worker down.
func (c *jobConsumer) call(ctx context.Context, log *zap.Logger, job check.Job, d Delivery) (outcome Outcome) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("job handler panicked, requeueing", zap.Any("panic", r), zap.Stack("stack"))
			outcome = Requeue
		}
	}()
	return c.handler(ctx, job, d)
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
