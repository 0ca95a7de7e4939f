package queue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// TransitionHandler receives one transition. An error asks for the
// transition again later, which only a durable subscription can honour.
type TransitionHandler func(ctx context.Context, t check.Transition) error

// SubscribeTransitions binds a queue to the transitions fanout exchange and
// calls h for every transition, one at a time and in the order the queue
// holds them, until ctx is cancelled; then it returns nil. It reconnects,
// redeclares and rebinds whenever the connection drops.
//
// queueName chooses the kind of subscription:
//   - "" declares a server-named, exclusive, auto-delete queue: every
//     subscriber (one per API replica) gets every transition. The queue dies
//     with the connection, so transitions published while reconnecting are
//     not seen; clients catch up from the transitions table by event id.
//     An error from h is logged and the transition dropped.
//   - a name declares a durable queue shared by every subscriber using that
//     name (the operator's status writer): transitions wait there across
//     restarts and reconnects, and an error from h requeues the transition
//     after Config.RequeueDelay. The queue is bound to
//     Config.StatusQueueLength transitions, beyond which the oldest are
//     dropped (see declareDurable), so a queue nobody consumes any more
//     cannot fill the broker.
//
// A body that is not a valid transition is logged and dropped. A panic in h
// counts as an error.
func SubscribeTransitions(ctx context.Context, cfg Config, queueName string, h TransitionHandler) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if h == nil {
		return errors.New("subscribe transitions: handler is nil")
	}
	sub := &subscriber{
		cfg:     cfg,
		log:     cfg.Logger.With(zap.String("component", "queue.subscriber"), zap.String("exchange", cfg.Transitions)),
		queue:   queueName,
		durable: queueName != "",
		handler: h,
	}
	sub.prefetch = cfg.Prefetch
	if sub.prefetch == 0 {
		// Enough to hide the round trip of acks, bounded so a slow handler
		// leaves the backlog on the broker rather than in our memory.
		sub.prefetch = defaultSubscriberPrefetch
	}
	r := reconnecting{cfg: &cfg, log: sub.log, declare: declareTransitions(&cfg), use: sub.consume,
		lost: "transition subscriber lost its connection, reconnecting"}
	r.run(ctx)
	return nil
}

type subscriber struct {
	cfg      Config
	log      *zap.Logger
	queue    string
	durable  bool
	prefetch int
	handler  TransitionHandler
}

// consume runs one session; nil means ctx was cancelled.
func (sub *subscriber) consume(ctx context.Context, s *session) error {
	defer s.close()
	var q amqp.Queue
	var err error
	if sub.durable {
		q, err = sub.declareDurable(s)
	} else {
		q, err = s.ch.QueueDeclare("", false, true, true, false, nil)
	}
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", sub.queue, err)
	}
	if err := s.ch.QueueBind(q.Name, "", sub.cfg.Transitions, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to %s: %w", q.Name, sub.cfg.Transitions, err)
	}
	if err := s.ch.Qos(sub.prefetch, 0, false); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	tag := consumerTag(sub.cfg.ConnectionName)
	deliveries, err := s.ch.Consume(q.Name, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", q.Name, err)
	}
	if sub.cfg.OnSubscribed != nil {
		sub.cfg.OnSubscribed()
	}
	for {
		select {
		case <-ctx.Done():
			if err := s.ch.Cancel(tag, false); err != nil {
				sub.log.Debug("cancel transition consumer", zap.Error(err))
			}
			for d := range deliveries {
				requeue(s, &d, sub.log)
			}
			return nil
		case d, ok := <-deliveries:
			if !ok {
				endSession(s)
				return fmt.Errorf("deliveries stopped: %w", s.err)
			}
			sub.handle(ctx, s, &d)
		}
	}
}

// declareDurable declares the durable queue with its bounds: at most
// StatusQueueLength transitions, dropping the oldest first. Dropping is the
// right end to give up: a newer transition of the same check supersedes an
// older one, and refusing new ones (reject-publish) would fail the
// workers' publishes and requeue their jobs. There is no age bound (TTL)
// on purpose: the status writer takes UP and DOWN only from transitions, so
// after an operator outage the newest transition of every check is still
// needed however old it is.
//
// A queue declared before the bounds existed has no arguments, and the
// broker refuses (406 PRECONDITION_FAILED) to redeclare it with others,
// closing the channel. Deleting and recreating it would lose the
// transitions it holds and any published in between, so the declaration is
// tried on a channel of its own; on a refusal the subscriber keeps using the
// queue as it is and says how to bound it with a policy, which the broker
// applies to an existing queue in place.
func (sub *subscriber) declareDurable(s *session) (amqp.Queue, error) {
	args := amqp.Table{"x-max-length": int64(sub.cfg.StatusQueueLength), "x-overflow": "drop-head"}
	probe, err := s.conn.Channel()
	if err != nil {
		return amqp.Queue{}, fmt.Errorf("open channel: %w", err)
	}
	q, err := probe.QueueDeclare(sub.queue, true, false, false, false, args)
	var aerr *amqp.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp.PreconditionFailed {
		_ = probe.Close()
		return q, err
	}
	// The broker closed probe; s.ch is untouched.
	sub.log.Warn("durable transitions queue exists with other arguments and is not bounded by Vigil; bound it with a policy",
		zap.String("queue", sub.queue), zap.Error(err),
		zap.String("remedy", fmt.Sprintf(`rabbitmqctl set_policy --apply-to queues vigil-status '^%s$' '{"max-length":%d,"overflow":"drop-head"}'`,
			regexp.QuoteMeta(sub.queue), sub.cfg.StatusQueueLength)))
	return s.ch.QueueDeclarePassive(sub.queue, true, false, false, false, nil)
}

func (sub *subscriber) handle(ctx context.Context, s *session, d *amqp.Delivery) {
	t, err := DecodeTransition(d.Body)
	if err != nil {
		sub.log.Error("dropping malformed transition message",
			zap.String("message_id", d.MessageId), zap.Error(err))
		sub.settle(s, d, true)
		return
	}
	err = sub.call(ctx, t)
	if err == nil || !sub.durable {
		if err != nil {
			sub.log.Warn("transition handler failed, dropping it",
				zap.String("service", t.Service), zap.String("check_id", t.CheckID),
				zap.String("status", string(t.To)), zap.Error(err))
		}
		sub.settle(s, d, true)
		return
	}
	sub.log.Warn("transition handler failed, requeueing",
		zap.String("service", t.Service), zap.String("check_id", t.CheckID),
		zap.String("status", string(t.To)), zap.Error(err))
	if sub.cfg.RequeueDelay > 0 {
		timer := time.NewTimer(sub.cfg.RequeueDelay)
		select {
		case <-timer.C:
		case <-ctx.Done():
		case <-s.done:
		}
		timer.Stop()
	}
	sub.settle(s, d, false)
}

// call runs the handler, turning a panic into an error.
func (sub *subscriber) call(ctx context.Context, t check.Transition) (err error) {
	defer func() {
		if r := recover(); r != nil {
			sub.log.Error("transition handler panicked", zap.String("check_id", t.CheckID),
				zap.Any("panic", r), zap.Stack("stack"))
			err = fmt.Errorf("transition handler panicked: %v", r)
		}
	}()
	return sub.handler(ctx, t)
}

func (sub *subscriber) settle(s *session, d *amqp.Delivery, ack bool) {
	var err error
	if ack {
		err = s.ch.Ack(d.DeliveryTag, false)
	} else {
		err = s.ch.Nack(d.DeliveryTag, false, true)
	}
	if err != nil {
		sub.log.Warn("settle transition message failed", zap.String("message_id", d.MessageId), zap.Error(err))
	}
}
