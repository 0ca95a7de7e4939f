package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// TestProbeHostileTargets is the "survive bad input" suite: servers that
// misbehave in every way we could think of. Each must end as a result
// within the job's timeout (plus slack), never as a hang, a panic or a
// leaked goroutine (TestMain checks the last).
func TestProbeHostileTargets(t *testing.T) {
	t.Parallel()
	const timeout = 700 * time.Millisecond
	const okHeader = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"

	tests := []struct {
		name       string
		handle     func(c net.Conn, done <-chan struct{})
		scheme     string
		wantStatus check.ResultStatus
		wantHTTP   int
		wantErr    string
	}{
		{
			name:    "accepts and never answers",
			handle:  func(_ net.Conn, done <-chan struct{}) { <-done },
			wantErr: "timeout after 700ms",
		},
		{
			name: "trickles the status line and headers",
			handle: func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				writeEvery(c, done, 50*time.Millisecond, "X")
			},
			wantErr: "timeout after 700ms",
		},
		{
			name: "sends endless headers",
			handle: func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				_, _ = c.Write([]byte(okHeader))
				writeForever(c, done, "X-Filler: "+strings.Repeat("a", 1000)+"\r\n")
			},
			wantErr: "response headers too large",
		},
		{
			name: "trickles headers one per tick",
			handle: func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				_, _ = c.Write([]byte(okHeader))
				writeEvery(c, done, 50*time.Millisecond, "X-Slow: 1\r\n")
			},
			wantErr: "timeout after 700ms",
		},
		{
			name: "sends an endless body fast",
			handle: func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				_, _ = c.Write([]byte(okHeader + "\r\n"))
				writeForever(c, done, strings.Repeat("z", 32<<10))
			},
			// The body cap bounds the cost; size says nothing about health.
			wantStatus: check.ResultUp, wantHTTP: 200,
		},
		{
			name: "trickles the body past the timeout",
			handle: func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				_, _ = c.Write([]byte(okHeader + "Content-Length: 100000\r\n\r\n"))
				writeEvery(c, done, 50*time.Millisecond, "z")
			},
			wantHTTP: 200, wantErr: "timeout after 700ms",
		},
		{
			name: "trickles an error status's body",
			handle: func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				_, _ = c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100000\r\n\r\n"))
				writeEvery(c, done, 50*time.Millisecond, "z")
			},
			wantHTTP: 503, wantErr: "unexpected status 503 (want 200)",
		},
		{
			name: "closes mid-body",
			handle: func(c net.Conn, _ <-chan struct{}) {
				readRequest(c)
				_, _ = c.Write([]byte(okHeader + "Content-Length: 100\r\n\r\n0123456789"))
			},
			wantHTTP: 200, wantErr: "connection closed mid-response",
		},
		{
			name:    "closes before answering",
			handle:  func(c net.Conn, _ <-chan struct{}) { readRequest(c) },
			wantErr: "connection closed before a response",
		},
		{
			name: "resets the connection",
			handle: func(c net.Conn, _ <-chan struct{}) {
				readRequest(c)
				_ = c.(*net.TCPConn).SetLinger(0)
			},
			wantErr: "connection reset by peer",
		},
		{
			name: "answers with something that is not HTTP",
			handle: func(c net.Conn, _ <-chan struct{}) {
				readRequest(c)
				_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n\r\n"))
			},
			wantErr: "malformed http response",
		},
		{
			name: "answers a TLS hello with something that is not TLS",
			handle: func(c net.Conn, _ <-chan struct{}) {
				_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n\r\n"))
				_, _ = c.Read(make([]byte, 1024))
			},
			scheme:  "https",
			wantErr: "tls: server did not answer with a TLS handshake",
		},
		{
			name:    "never finishes the TLS handshake",
			handle:  func(_ net.Conn, done <-chan struct{}) { <-done },
			scheme:  "https",
			wantErr: "timeout after 700ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newRawServer(t, tt.handle)
			p := newProber(t, Options{})
			scheme := tt.scheme
			if scheme == "" {
				scheme = "http"
			}
			res := p.Probe(context.Background(), httpJob(scheme+"://"+srv.addr()+"/health", timeout))
			if tt.wantStatus == check.ResultUp {
				require.Equal(t, check.ResultUp, res.Status, res.Error)
				require.LessOrEqual(t, res.Latency, timeout+time.Second)
			} else {
				requireDown(t, res, tt.wantErr, timeout)
			}
			require.Equal(t, tt.wantHTTP, res.HTTPStatus)
		})
	}
}

func TestProbeConnectionRefused(t *testing.T) {
	t.Parallel()
	p := newProber(t, Options{})
	res := p.Probe(context.Background(), httpJob("http://"+closedPort(t)+"/", 5*time.Second))
	requireDown(t, res, "connection refused", 5*time.Second)
}

func TestProbeDNSFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rcode   byte
		wantErr string
	}{
		{name: "no such host", rcode: rcodeNameError, wantErr: "dns: no such host"},
		{name: "name server failing", rcode: rcodeServerFailure, wantErr: "dns: server misbehaving"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProber(t, Options{Resolver: fakeDNS(tt.rcode)})
			res := p.Probe(context.Background(), httpJob("http://status.vigil.test/", 5*time.Second))
			requireDown(t, res, tt.wantErr, 5*time.Second)
		})
	}
}

func TestProbeInvalidTLS(t *testing.T) {
	t.Parallel()
	srv := newTLSServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	p := newProber(t, Options{})
	res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
	requireDown(t, res, "tls: certificate signed by unknown authority", 5*time.Second)
}

// TestProbeSlowHandler covers a well-formed server that is just too slow,
// through net/http rather than a raw socket.
func TestProbeSlowHandler(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	p := newProber(t, Options{})
	res := p.Probe(context.Background(), httpJob(srv.URL, 300*time.Millisecond))
	requireDown(t, res, "timeout after 300ms", 300*time.Millisecond)
}

func TestProbeCallerContext(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
	p := newProber(t, Options{})

	t.Run("canceled by the caller", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		res := p.Probe(ctx, httpJob("http://"+srv.addr()+"/", 5*time.Second))
		requireDown(t, res, "probe canceled", 5*time.Second)
	})
	t.Run("caller deadline shorter than the job timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		res := p.Probe(ctx, httpJob("http://"+srv.addr()+"/", 5*time.Second))
		require.Equal(t, check.ResultDown, res.Status)
		require.True(t, strings.HasPrefix(res.Error, "timeout after "), res.Error)
		require.NotEqual(t, "timeout after 5s", res.Error, "the probe never had 5s")
		require.LessOrEqual(t, res.Latency, 300*time.Millisecond+time.Second)
	})
	t.Run("zero job timeout uses the default", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		res := p.Probe(ctx, httpJob("http://"+srv.addr()+"/", 0))
		require.Equal(t, check.ResultDown, res.Status)
		require.True(t, strings.HasPrefix(res.Error, "timeout after "), res.Error)
	})
}

// TestProbeRecoversPanics makes the "never panics" promise concrete: even
// a clock that blows up costs one DOWN result, not the worker.
func TestProbeRecoversPanics(t *testing.T) {
	t.Parallel()
	p := newProber(t, Options{Now: func() time.Time { panic("clock on fire") }})
	res := p.Probe(context.Background(), httpJob("http://127.0.0.1:1/", time.Second))
	require.Equal(t, check.ResultDown, res.Status)
	require.Equal(t, "internal error: probe panicked: clock on fire", res.Error)
	require.False(t, res.CheckedAt.IsZero())
	require.Equal(t, "chk-1", res.CheckID)
}
