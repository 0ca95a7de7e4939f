package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// Headers of job messages. Classic queues do not count deliveries, so the
// consumer counts them in the message it publishes in place of a failed one.
const (
	// attemptHeader is the delivery a message's jobs are on: 1 when absent.
	attemptHeader = "x-vigil-attempt"
	// deadReasonHeader says why we dead-lettered a message: one of the
	// DeadLetter* reasons.
	deadReasonHeader = "x-vigil-dead-reason"
	// deliveriesHeader is how many deliveries a dead-lettered message's jobs
	// had. A dead-lettered message carries it instead of attemptHeader, so
	// that one moved back to the jobs queue starts again from attempt 1.
	deliveriesHeader = "x-vigil-deliveries"
	// publishedAtHeader is when a message's jobs were published, in Unix
	// milliseconds (the AMQP timestamp property holds whole seconds only):
	// how long they have waited since is Delivery.PublishedAt's use. A
	// dead-lettered message drops it, so one moved back to the jobs queue
	// by hand is not shed for the time it sat in the dead-letter queue.
	publishedAtHeader = "x-vigil-published-at"
)

// attemptOf reads a delivery's attempt header. A message without one (all
// of them before the header existed) or with a value we cannot read is on
// its first attempt.
func attemptOf(d *amqp.Delivery) int {
	n, _ := intHeader(d.Headers[attemptHeader])
	// Bounded so that a forged header cannot overflow anything.
	return int(min(max(n, 1), 1<<20))
}

// publishedAtOf reads a delivery's publish time header; zero when it has
// none (a message from a publisher that predates it, or moved back from
// the dead-letter queue) or one no clock could have written.
func publishedAtOf(d *amqp.Delivery) time.Time {
	ms, ok := intHeader(d.Headers[publishedAtHeader])
	if !ok || ms <= 0 || ms > maxPublishedAtMillis {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// maxPublishedAtMillis is the year 9999, past any real clock: a forged
// header beyond it cannot overflow the durations computed from it.
const maxPublishedAtMillis = 253402300799999

// intHeader reads an integer header value of any of the types AMQP tables
// decode integers into.
func intHeader(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	}
	return 0, false
}

// settlement is where the jobs of a message go, by index.
type settlement struct {
	retry   []int // returned Requeue with deliveries left: back, attempt+1
	resume  []int // never started: back, same attempt
	refused []int // returned DeadLetter: to the dead-letter queue
	spent   []int // returned Requeue on the last allowed delivery: likewise
}

func (c *jobConsumer) plan(m *heldMessage) settlement {
	m.mu.Lock()
	defer m.mu.Unlock()
	var p settlement
	for i, o := range m.outcomes {
		switch o {
		case Ack:
		case notStarted:
			p.resume = append(p.resume, i)
		case DeadLetter:
			p.refused = append(p.refused, i)
		default:
			if m.attempt >= c.cfg.MaxDeliveries {
				p.spent = append(p.spent, i)
			} else {
				p.retry = append(p.retry, i)
			}
		}
	}
	return p
}

// settle settles m once all its jobs have ended; ConsumeJobs says how.
func (c *jobConsumer) settle(s *session, m *heldMessage) {
	if s.closed() {
		c.settleFailed(m, "any", s.err)
		return
	}
	p := c.plan(m)
	if len(p.retry)+len(p.resume)+len(p.refused)+len(p.spent) == 0 {
		if err := s.ch.Ack(m.d.DeliveryTag, false); err != nil {
			c.settleFailed(m, "ack", err)
		}
		return
	}
	if len(p.retry) > 0 {
		c.waitBeforeRequeue(s, m.attempt)
	}
	if err := c.publishSettlement(s, m, &p); err != nil {
		// Nothing is lost: the message goes back whole and uncounted, as
		// before attempts were counted, and its finished jobs run again.
		c.log.Warn("could not publish the jobs of a settled message, requeueing it whole",
			zap.String("message_id", m.d.MessageId), zap.Int("attempt", m.attempt), zap.Error(err))
		if err := s.ch.Nack(m.d.DeliveryTag, false, true); err != nil {
			c.settleFailed(m, "requeue", err)
		}
		return
	}
	if err := s.ch.Ack(m.d.DeliveryTag, false); err != nil {
		// What we published stays published: the jobs may run twice.
		c.settleFailed(m, "ack", err)
	}
	c.reportDead(m, p.refused, DeadLetterHandler)
	c.reportDead(m, p.spent, DeadLetterMaxDeliveries)
}

func (c *jobConsumer) settleFailed(m *heldMessage, what string, err error) {
	// The channel is gone, so the broker requeues the message itself and
	// someone sees it again with Redelivered set.
	c.log.Warn("settle job message failed, the broker will redeliver it",
		zap.String("message_id", m.d.MessageId), zap.String("settle", what), zap.Error(err))
}

// reportDead logs the dead-lettered jobs idx of m, one line per check, and
// counts their message.
func (c *jobConsumer) reportDead(m *heldMessage, idx []int, reason string) {
	if len(idx) == 0 {
		return
	}
	for _, i := range idx {
		fields := jobFields(&m.jobs[i], zap.String("reason", reason), zap.Int("attempt", m.attempt),
			zap.String("message_id", m.d.MessageId), zap.Time("scheduled_at", m.jobs[i].ScheduledAt))
		if reason == DeadLetterMaxDeliveries {
			c.log.Error("job failed on its last allowed delivery, dead-lettered it",
				append(fields, zap.Int("max_deliveries", c.cfg.MaxDeliveries))...)
		} else {
			c.log.Warn("dead-lettered a job at its handler's request", fields...)
		}
	}
	if c.cfg.OnDeadLetter != nil {
		c.cfg.OnDeadLetter(reason)
	}
}

// settleMessage is one message publishSettlement sends.
type settleMessage struct {
	exchange, key string
	msg           amqp.Publishing
}

// publishSettlement publishes the jobs of m that do not simply go away, as
// messages of just those jobs, and waits for the broker's confirms.
func (c *jobConsumer) publishSettlement(s *session, m *heldMessage, p *settlement) error {
	outs, err := c.settlementMessages(m, p)
	if err != nil {
		return err
	}
	// Not mandatory: the jobs queue is the one we consume (had it been
	// deleted, the original would be gone with it), and the dead-letter
	// exchange's queue is declared on every connect, as the broker's own
	// dead-lettering assumes too.
	dcs := make([]*amqp.DeferredConfirmation, 0, len(outs))
	for i := range outs {
		dc, err := s.pub.PublishWithDeferredConfirm(outs[i].exchange, outs[i].key, false, false, outs[i].msg)
		if err != nil {
			return fmt.Errorf("publish %s: %w", outs[i].msg.MessageId, err)
		}
		dcs = append(dcs, dc)
	}
	timeout := time.NewTimer(c.cfg.DialTimeout)
	defer timeout.Stop()
	for _, dc := range dcs {
		select {
		case <-dc.Done():
			if !dc.Acked() {
				return ErrNacked
			}
		case <-s.done:
			return fmt.Errorf("%w: %w", ErrConnectionLost, s.err)
		case <-timeout.C:
			return errors.New("broker did not confirm in time")
		}
	}
	return nil
}

// settlementMessages are the messages that carry the jobs of m where p
// sends them: back to the jobs queue with their next attempt (or the same
// one, for jobs that never started), or to the dead-letter exchange with
// why and after how many deliveries.
func (c *jobConsumer) settlementMessages(m *heldMessage, p *settlement) ([]settleMessage, error) {
	raw, err := rawJobs(m.d.Body)
	if err != nil {
		return nil, err
	}
	var outs []settleMessage
	back := func(idx []int, attempt int) {
		if len(idx) > 0 {
			h := cloneHeaders(m.d.Headers)
			h[attemptHeader] = int32(attempt)
			if attempt > m.attempt {
				// A retry waited in the consumer on purpose; it is
				// published now. Jobs that never started keep the
				// original time: they have been waiting since.
				h[publishedAtHeader] = time.Now().UnixMilli()
			}
			outs = append(outs, settleMessage{"", c.queue, subsetPublishing(m, raw, idx, h)})
		}
	}
	dead := func(idx []int, reason string) {
		if len(idx) > 0 {
			h := cloneHeaders(m.d.Headers)
			delete(h, attemptHeader)
			delete(h, publishedAtHeader)
			h[deadReasonHeader] = reason
			h[deliveriesHeader] = int32(m.attempt)
			outs = append(outs, settleMessage{c.cfg.deadLetterExchange(), "", subsetPublishing(m, raw, idx, h)})
		}
	}
	back(p.retry, m.attempt+1)
	back(p.resume, m.attempt)
	dead(p.refused, DeadLetterHandler)
	dead(p.spent, DeadLetterMaxDeliveries)
	return outs, nil
}

// cloneHeaders is a copy of h to change, never nil.
func cloneHeaders(h amqp.Table) amqp.Table {
	if h = maps.Clone(h); h == nil {
		h = amqp.Table{}
	}
	return h
}

// rawJobs splits a body DecodeJobs accepted into its jobs' JSON, untouched:
// published again, a job keeps the fields this version does not know, which
// a newer scheduler may have added.
func rawJobs(body []byte) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return []json.RawMessage{trimmed}, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, fmt.Errorf("split job message: %w", err)
	}
	return raw, nil
}

// subsetPublishing is a message of the jobs idx of m, in the format and with
// the id a publisher would give them (see jobPublishing), and the original's
// timestamp, which shows how long the jobs have been around.
func subsetPublishing(m *heldMessage, raw []json.RawMessage, idx []int, headers amqp.Table) amqp.Publishing {
	jobs := make([]check.Job, len(idx))
	bodies := make([][]byte, len(idx))
	size := 1
	for k, i := range idx {
		jobs[k], bodies[k] = m.jobs[i], raw[i]
		size += len(raw[i]) + 1
	}
	msg := jobPublishing(jobs, bodies, size, m.d.Timestamp)
	if msg.Timestamp.IsZero() {
		msg.Timestamp = time.Now()
	}
	msg.Headers = headers
	return msg
}

// waitBeforeRequeue holds a message whose failed jobs are about to go back
// for the delay their attempt earns (see Config.RequeueDelay); a stop or a
// lost connection cuts the wait short.
func (c *jobConsumer) waitBeforeRequeue(s *session, attempt int) {
	d := c.cfg.requeueDelay(attempt)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.stopping:
	case <-s.done:
	}
}
