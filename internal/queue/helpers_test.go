package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/check"
)

// eventually is the patience for asynchronous broker behaviour. It is
// generous because the tests share two cores with every other package's.
const eventually = 20 * time.Second

func amqpURL() string {
	if u := os.Getenv("VIGIL_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// testConfig returns a Config with topology names no other test uses, and
// removes that topology when the test ends.
func testConfig(t testing.TB) Config {
	t.Helper()
	name := fmt.Sprintf("vigil.test.%x", rand.Uint64())
	cfg := Config{
		URL:            amqpURL(),
		JobQueue:       name + ".jobs",
		Transitions:    name + ".transitions",
		ConnectionName: "vigil-queue-test",
		Logger:         zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
		ReconnectMin:   20 * time.Millisecond,
		ReconnectMax:   200 * time.Millisecond,
		RequeueDelay:   20 * time.Millisecond,
	}
	admin := adminChannel(t)
	t.Cleanup(func() {
		for _, q := range []string{cfg.JobQueue, cfg.deadLetterQueue()} {
			_, _ = admin.QueueDelete(q, false, false, false)
		}
		for _, x := range []string{cfg.deadLetterExchange(), cfg.Transitions} {
			_ = admin.ExchangeDelete(x, false, false)
		}
	})
	return cfg
}

// adminChannel is a plain amqp091 channel for inspecting and arranging broker
// state behind the package's back. It fails the test when the broker is not
// reachable: a skipped integration test hides a broken environment.
func adminChannel(t testing.TB) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(amqpURL())
	require.NoError(t, err, "RabbitMQ must be reachable at %s (set VIGIL_TEST_AMQP_URL)", amqpURL())
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	return ch
}

// queueDepth is the number of ready messages in the named queue.
func queueDepth(t testing.TB, name string) int {
	t.Helper()
	conn, err := amqp.Dial(amqpURL())
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	require.NoError(t, err)
	q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	require.NoError(t, err, "queue %s", name)
	return q.Messages
}

// getAll takes every ready message off the named queue (acking them).
func getAll(t testing.TB, name string) []amqp.Delivery {
	t.Helper()
	ch := adminChannel(t)
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(name, true)
		require.NoError(t, err)
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

func testJob(id string, at time.Time) check.Job {
	return check.Job{
		CheckID:        id,
		Service:        "svc-" + id,
		Type:           check.TypeHTTP,
		URL:            "http://127.0.0.1:1/health",
		Method:         "GET",
		ExpectedStatus: 200,
		Timeout:        2 * time.Second,
		ScheduledAt:    at,
	}
}

func testJobs(n int) []check.Job {
	base := time.Now().Truncate(time.Millisecond)
	jobs := make([]check.Job, n)
	for i := range jobs {
		jobs[i] = testJob(fmt.Sprintf("c%03d", i), base.Add(time.Duration(i)*time.Second))
	}
	return jobs
}

func testTransition(id string, n int64) check.Transition {
	return check.Transition{
		ID:          n,
		CheckID:     id,
		Service:     "svc-" + id,
		From:        check.StateUp,
		To:          check.StateDown,
		At:          time.Now().Truncate(time.Millisecond).UTC(),
		Latency:     2001 * time.Millisecond,
		Error:       "timeout after 2s",
		ScheduledAt: time.Now().Truncate(time.Millisecond).UTC(),
	}
}

func newPublisher(t testing.TB, cfg Config) *Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventually)
	defer cancel()
	p, err := NewPublisher(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// runConsumer runs ConsumeJobs in the background. stop cancels it and waits
// for it to return, failing the test if it returned an error.
func runConsumer(t testing.TB, cfg Config, concurrency int, h JobHandler) (stop func()) {
	t.Helper()
	return runBackground(t, func(ctx context.Context) error { return ConsumeJobs(ctx, cfg, concurrency, h) })
}

func runSubscriber(t testing.TB, cfg Config, queueName string, h TransitionHandler) (stop func()) {
	t.Helper()
	return runBackground(t, func(ctx context.Context) error { return SubscribeTransitions(ctx, cfg, queueName, h) })
}

func runBackground(t testing.TB, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				require.NoError(t, err)
			case <-time.After(eventually):
				require.Fail(t, "consumer did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// tcpProxy forwards 127.0.0.1:<ephemeral> to the broker and can cut every
// connection through it or refuse new ones, which is how the tests drop a
// connection without touching anybody else's.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	down    bool
	stalled bool
	wg      sync.WaitGroup
}

func startProxy(t testing.TB) *tcpProxy {
	t.Helper()
	u, err := url.Parse(amqpURL())
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// url is the broker URL with the proxy's address in place of the broker's.
func (p *tcpProxy) url(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(amqpURL())
	require.NoError(t, err)
	u.Host = p.ln.Addr().String()
	return u.String()
}

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, up, true)
		go p.pipe(up, c, false)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn, fromBroker bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromBroker {
				p.waitUnstalled()
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *tcpProxy) waitUnstalled() {
	for {
		p.mu.Lock()
		stalled := p.stalled
		p.mu.Unlock()
		if !stalled {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Stall holds back everything the broker sends (confirms, deliveries)
// while letting the client's frames through, like a congested link.
func (p *tcpProxy) Stall(stalled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = stalled
}

// Cut closes every proxied connection (and ends a stall); new ones are
// still accepted.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	for c := range p.conns {
		_ = c.Close()
	}
}

// SetDown makes the proxy refuse (accept and close) new connections, and
// cuts the current ones when going down.
func (p *tcpProxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.Cut()
	}
}

// active is the number of client connections through the proxy.
func (p *tcpProxy) active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// closedPortURL is a broker URL on a loopback port nobody listens on.
func closedPortURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "amqp://guest:guest@" + addr + "/"
}

// stopInBackground calls stop on its own goroutine; the channel closes when
// it has returned.
func stopInBackground(stop func()) <-chan struct{} {
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	return stopped
}

// requireStillStopping fails if the consumer returns within 200 ms: its
// handlers are still running, and it must wait for them.
func requireStillStopping(t *testing.T, stopped <-chan struct{}) {
	t.Helper()
	select {
	case <-stopped:
		require.Fail(t, "ConsumeJobs returned while handlers were running")
	case <-time.After(200 * time.Millisecond):
	}
}
