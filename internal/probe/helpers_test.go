package probe

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-dev/vigil/internal/check"
)

// TestMain fails the package when any test leaves a goroutine behind: a
// prober that leaks one per hostile target would sink a worker in a day.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixedNow is the fake clock every test prober stamps results with.
func fixedNow() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

// DNS response codes the fake name server can answer with.
const (
	rcodeServerFailure = 2
	rcodeNameError     = 3
)

// offlineResolver resolves from /etc/hosts and sends every other name to
// fakeDNS answering NXDOMAIN, so no test ever queries a real name server.
func offlineResolver() *net.Resolver { return fakeDNS(rcodeNameError) }

// fakeDNS is a resolver whose name server lives in memory and answers every
// query with rcode. It speaks DNS over a stream (a net.Pipe is no
// PacketConn, so the Go resolver frames messages with a length prefix).
func fakeDNS(rcode byte) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer func() { _ = server.Close() }()
				for {
					var size [2]byte
					if _, err := io.ReadFull(server, size[:]); err != nil {
						return
					}
					msg := make([]byte, binary.BigEndian.Uint16(size[:]))
					if _, err := io.ReadFull(server, msg); err != nil || len(msg) < 12 {
						return
					}
					// Echo the query (id, question, EDNS record) as a
					// response carrying rcode and no answers.
					msg[2] |= 0x80                           // QR: response
					msg[3] = msg[3]&0xf0 | 0x80 | rcode&0x0f // RA, rcode
					if _, err := server.Write(append(size[:], msg...)); err != nil {
						return
					}
				}
			}()
			return client, nil
		},
	}
}

// newProber builds a Prober with the test clock and resolver and closes it
// when the test ends.
func newProber(t testing.TB, opts Options) *Prober {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	if opts.Resolver == nil {
		opts.Resolver = offlineResolver()
	}
	p := New(opts)
	t.Cleanup(p.Close)
	return p
}

func httpJob(url string, timeout time.Duration) check.Job {
	return check.Job{
		CheckID:     "chk-1",
		Service:     "payments",
		Type:        check.TypeHTTP,
		URL:         url,
		Timeout:     timeout,
		ScheduledAt: fixedNow().Add(-time.Second),
	}
}

// requireDown asserts a DOWN result with exactly wantErr that finished
// within its timeout plus a second of slack: a correctness bound (the
// timeout covers the whole probe), not a speed benchmark.
func requireDown(t *testing.T, res check.Result, wantErr string, timeout time.Duration) {
	t.Helper()
	require.Equal(t, check.ResultDown, res.Status, "error: %s", res.Error)
	require.Equal(t, wantErr, res.Error)
	require.LessOrEqual(t, res.Latency, timeout+time.Second)
	require.Positive(t, res.Latency)
}

// rawServer is a TCP listener on loopback whose every connection runs
// handle, for targets no well-behaved http.Server would imitate. Closing
// it closes every connection and waits for every handler.
type rawServer struct {
	ln       net.Listener
	accepted atomic.Int64
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newRawServer(t testing.TB, handle func(c net.Conn, done <-chan struct{})) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &rawServer{ln: ln, done: make(chan struct{})}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer func() { _ = c.Close() }()
				handle(c, s.done)
			})
		}
	})
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

func (s *rawServer) port() uint16 {
	return netip.MustParseAddrPort(s.addr()).Port()
}

func (s *rawServer) close() {
	close(s.done)
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// readRequest consumes one HTTP request so a handler answers only after
// the client has sent it, as a real server would.
func readRequest(c net.Conn) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err == nil {
		_ = req.Body.Close()
	}
}

// writeEvery writes chunk every interval until the connection or the server
// closes.
func writeEvery(c net.Conn, done <-chan struct{}, interval time.Duration, chunk string) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if _, err := c.Write([]byte(chunk)); err != nil {
				return
			}
		}
	}
}

// writeForever writes chunk as fast as the peer reads it until the
// connection or the server closes.
func writeForever(c net.Conn, done <-chan struct{}, chunk string) {
	for {
		select {
		case <-done:
			return
		default:
		}
		if _, err := c.Write([]byte(chunk)); err != nil {
			return
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
