package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/backoff"
)

// errSessionClosed is why a session ended when the broker said nothing: the
// socket dropped, or we closed it ourselves.
var errSessionClosed = errors.New("broker connection closed")

// session is one AMQP connection with one channel on it. Vigil never
// recovers a connection in place: when either the connection or the channel
// closes, the whole session is dropped and a fresh one is dialled and its
// topology declared again. amqp091-go's own Config.Recovery is not used: it
// is marked experimental, and replaying consumers inside the library would
// hide from us the moment delivery tags stop being valid, which is exactly
// what the ack bookkeeping here must know.
type session struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	// pub is a second channel in confirm mode, opened by openPublishing
	// for a consumer that settles messages by publishing; nil otherwise.
	pub *amqp.Channel

	done      chan struct{} // closed once the connection or channel is gone
	closeOnce sync.Once
	err       error // why; read only after done is closed
}

// dial opens a session and declares the topology with declare. ctx bounds the
// TCP connect; the handshake is bounded by cfg.DialTimeout.
func dial(ctx context.Context, cfg *Config, declare func(*amqp.Channel) error) (*session, error) {
	props := amqp.NewConnectionProperties()
	if cfg.ConnectionName != "" {
		props.SetClientConnectionName(cfg.ConnectionName)
	}
	netDial, stopWatch := dialTCP(ctx, cfg.DialTimeout)
	conn, err := amqp.DialConfig(cfg.URL, amqp.Config{Properties: props, Dial: netDial})
	stopWatch()
	if err != nil {
		return nil, fmt.Errorf("dial broker: %w", err)
	}
	if ctx.Err() != nil {
		_ = conn.Close()
		return nil, ctx.Err()
	}
	ch, err := conn.Channel()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if declare != nil {
		if err := declare(ch); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("declare topology: %w", err)
		}
	}
	s := &session{conn: conn, ch: ch, done: make(chan struct{})}
	go s.watch(conn.NotifyClose(make(chan *amqp.Error, 1)), ch.NotifyClose(make(chan *amqp.Error, 1)))
	return s, nil
}

// dialTCP is amqp091's Dial for one attempt: the connect follows ctx, and
// the socket is closed if ctx ends during the handshake, until stopWatch is
// called once the handshake is over.
func dialTCP(ctx context.Context, timeout time.Duration) (netDial func(network, addr string) (net.Conn, error), stopWatch func()) {
	stop := func() bool { return true }
	netDial = func(network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// A broker that accepts TCP but never speaks AMQP must not
		// stall us; amqp091 clears the deadline after the handshake.
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			_ = c.Close()
			return nil, err
		}
		// Nor must it hold up a shutdown for the whole timeout.
		stop = context.AfterFunc(ctx, func() { _ = c.Close() })
		return c, nil
	}
	return netDial, func() { stop() }
}

// watch ends s when its connection or its channel closes.
func (s *session) watch(connClosed, chClosed <-chan *amqp.Error) {
	var aerr *amqp.Error
	select {
	case aerr = <-connClosed:
	case aerr = <-chClosed:
	}
	if aerr != nil {
		s.end(aerr)
	} else {
		s.end(errSessionClosed)
	}
	// A closed channel on a live connection (say a 404 on publish)
	// still ends the session: the next one starts from a clean slate.
	_ = s.conn.Close()
}

// openPublishing opens s.pub. Its closing ends the session like the main
// channel's does, so that the next session starts with both usable again.
// Call it before the session is shared with other goroutines.
func (s *session) openPublishing() error {
	ch, err := s.conn.Channel()
	if err != nil {
		return fmt.Errorf("open publishing channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return fmt.Errorf("enable publisher confirms: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		// Nil when the connection went (the main watcher handles that)
		// or we closed it.
		if aerr := <-closed; aerr != nil {
			s.end(aerr)
			_ = s.conn.Close()
		}
	}()
	s.pub = ch
	return nil
}

func (s *session) end(err error) {
	s.closeOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}

// close ends the session from our side.
func (s *session) close() {
	s.end(errSessionClosed)
	_ = s.conn.Close()
}

// closed reports whether the session is gone.
func (s *session) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// declareJobs declares the jobs queue and its dead-letter pair. Declaring is
// idempotent, so every (re)connect does it and a broker that lost its
// definitions heals on the next connection.
//
// The queues are classic durable queues, not quorum queues: this deployment
// runs one broker node, where a Raft log buys no availability and costs disk
// and latency. On a multi-node cluster quorum queues would survive a node
// loss and offer x-delivery-limit, which dead-letters a message that keeps
// being requeued; with classic queues that loop is only slowed down by
// RequeueDelay. Switching needs a new queue name, because RabbitMQ refuses to
// redeclare a queue with a different x-queue-type.
func declareJobs(cfg *Config) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		dlx, dead := cfg.deadLetterExchange(), cfg.deadLetterQueue()
		// Fanout, so a dead-lettered message lands in the dead queue
		// whatever routing key it carried.
		if err := ch.ExchangeDeclare(dlx, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", dlx, err)
		}
		if _, err := ch.QueueDeclare(dead, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare queue %s: %w", dead, err)
		}
		if err := ch.QueueBind(dead, "", dlx, false, nil); err != nil {
			return fmt.Errorf("bind queue %s: %w", dead, err)
		}
		args := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeClassic, "x-dead-letter-exchange": dlx}
		if _, err := ch.QueueDeclare(cfg.JobQueue, true, false, false, false, args); err != nil {
			return fmt.Errorf("declare queue %s: %w", cfg.JobQueue, err)
		}
		return nil
	}
}

// declareRegionJobs declares the queue of a region other than the default
// one (JobQueueFor), after declareJobs. Its messages expire after
// RegionJobTTL, so a region without workers does not pile up jobs. It has
// no dead-letter exchange: with one, every expired job would move to the
// dead queue, which would then grow instead. What the consumer
// dead-letters itself (a handler's refusal, spent deliveries) it
// publishes to the dead-letter exchange directly, as on the default
// queue; only a malformed message, which no Vigil publisher writes, is
// dropped rather than kept.
func declareRegionJobs(cfg *Config, region string) func(*amqp.Channel) error {
	name := cfg.JobQueueFor(region)
	return func(ch *amqp.Channel) error {
		args := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeClassic, "x-message-ttl": RegionJobTTL.Milliseconds()}
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			return fmt.Errorf("declare queue %s: %w", name, err)
		}
		return nil
	}
}

// declareTransitions declares the transitions fanout exchange.
func declareTransitions(cfg *Config) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		if err := ch.ExchangeDeclare(cfg.Transitions, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", cfg.Transitions, err)
		}
		return nil
	}
}

// declareAll chains declarations.
func declareAll(fs ...func(*amqp.Channel) error) func(*amqp.Channel) error {
	return func(ch *amqp.Channel) error {
		for _, f := range fs {
			if err := f(ch); err != nil {
				return err
			}
		}
		return nil
	}
}

// reconnecting is the life every long-lived broker client leads: dial
// (again and again, with backoff, until it succeeds), use the session until
// it ends, wait a backoff, dial again - until ctx ends. The publisher, the
// job consumer and the transition subscriber differ only in how they use a
// session, so this is the one place their retry policy lives.
type reconnecting struct {
	cfg *Config
	// log names the component; its warnings say what is being retried.
	log *zap.Logger
	// declare prepares every new session's channel (see dial).
	declare func(*amqp.Channel) error
	// use runs one session until it ends or ctx does, closes it, and says
	// why it ended; the reason is logged as the warning lost.
	use  func(ctx context.Context, s *session) error
	lost string
	// dialFailed, when set, hears every failed dial while ctx lasts.
	dialFailed func(error)
}

// run runs sessions one after another until ctx ends. The backoff starts
// over only after a session that lived stableAfter.
func (r *reconnecting) run(ctx context.Context) {
	b := backoff.Backoff{Min: r.cfg.ReconnectMin, Max: r.cfg.ReconnectMax}
	for {
		s, err := r.connect(ctx, &b)
		if err != nil {
			return
		}
		started := time.Now()
		err = r.use(ctx, s)
		if ctx.Err() != nil {
			return
		}
		r.log.Warn(r.lost, zap.Error(err))
		if time.Since(started) >= stableAfter(r.cfg) {
			b.Reset()
		}
		if backoff.Sleep(ctx, b.Next()) != nil {
			return
		}
	}
}

// connect dials until it succeeds, sleeping b between failures. It returns
// ctx.Err() when ctx ends first.
func (r *reconnecting) connect(ctx context.Context, b *backoff.Backoff) (*session, error) {
	for {
		s, err := dial(ctx, r.cfg, r.declare)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if r.dialFailed != nil {
			r.dialFailed(err)
		}
		delay := b.Next()
		r.log.Warn("broker connect failed, retrying", zap.Error(err), zap.Duration("retry_in", delay))
		if err := backoff.Sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// stableAfter is how long a session must live before a drop counts as a
// fresh failure again rather than a continuation of the last one. Without it
// a broker that accepts connections and drops them at once would be redialled
// every ReconnectMin.
func stableAfter(cfg *Config) time.Duration { return cfg.ReconnectMax }
