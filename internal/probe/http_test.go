package probe

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestProbeHTTPResults(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/created", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("/head-only", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 4<<20)))
	})
	mux.HandleFunc("/huge-error", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(strings.Repeat("x", 4<<20)))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p := newProber(t, Options{})

	tests := []struct {
		name       string
		path       string
		method     string
		expected   int
		wantStatus check.ResultStatus
		wantHTTP   int
		wantErr    string
	}{
		{name: "200 is up", path: "/ok", wantStatus: check.ResultUp, wantHTTP: 200},
		{name: "503 is down", path: "/unavailable", wantStatus: check.ResultDown, wantHTTP: 503,
			wantErr: "unexpected status 503 (want 200)"},
		{name: "expected status other than 200", path: "/created", expected: 201, wantStatus: check.ResultUp, wantHTTP: 201},
		{name: "200 when 201 is expected", path: "/ok", expected: 201, wantStatus: check.ResultDown, wantHTTP: 200,
			wantErr: "unexpected status 200 (want 201)"},
		{name: "method is sent", path: "/head-only", method: http.MethodHead, wantStatus: check.ResultUp, wantHTTP: 200},
		{name: "default method is GET", path: "/head-only", wantStatus: check.ResultDown, wantHTTP: 405,
			wantErr: "unexpected status 405 (want 200)"},
		{name: "redirect is followed", path: "/moved", wantStatus: check.ResultUp, wantHTTP: 200},
		{name: "expected 3xx judges the redirect itself", path: "/moved", expected: 301, wantStatus: check.ResultUp, wantHTTP: 301},
		{name: "huge body is capped, not a failure", path: "/huge", wantStatus: check.ResultUp, wantHTTP: 200},
		{name: "huge body with a bad status", path: "/huge-error", wantStatus: check.ResultDown, wantHTTP: 500,
			wantErr: "unexpected status 500 (want 200)"},
		{name: "missing page", path: "/nope", wantStatus: check.ResultDown, wantHTTP: 404,
			wantErr: "unexpected status 404 (want 200)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := httpJob(srv.URL+tt.path, 5*time.Second)
			job.Method, job.ExpectedStatus = tt.method, tt.expected
			res := p.Probe(context.Background(), job)
			require.Equal(t, tt.wantStatus, res.Status, "error: %s", res.Error)
			require.Equal(t, tt.wantHTTP, res.HTTPStatus)
			require.Equal(t, tt.wantErr, res.Error)
			require.Equal(t, job.CheckID, res.CheckID)
			require.Equal(t, job.Service, res.Service)
			require.Equal(t, job.ScheduledAt, res.ScheduledAt)
			require.Equal(t, fixedNow(), res.CheckedAt)
			require.Positive(t, res.Latency)
			require.LessOrEqual(t, res.Latency, job.Timeout+time.Second)
		})
	}
}

func TestProbeHTTPBadJobs(t *testing.T) {
	t.Parallel()
	p := newProber(t, Options{})
	tests := []struct {
		name    string
		job     check.Job
		wantErr string
	}{
		{name: "unparseable url", job: check.Job{URL: "http://[::1"}, wantErr: "invalid url"},
		{name: "wrong scheme", job: check.Job{URL: "ftp://example.com/"},
			wantErr: `unsupported url scheme "ftp" (want http or https)`},
		{name: "no host", job: check.Job{URL: "http:///path"}, wantErr: "invalid url: no host"},
		{name: "bad method", job: check.Job{URL: "http://127.0.0.1:1/", Method: "GE T"},
			wantErr: `method GE T is not allowed by this worker (VIGIL_PROBE_METHODS)`},
		{name: "unknown type", job: check.Job{Type: "smtp", URL: "smtp://x"}, wantErr: `unsupported check type "smtp"`},
		{name: "grpc url for http check", job: check.Job{Type: check.TypeHTTP, URL: "grpc://127.0.0.1:1"},
			wantErr: `unsupported url scheme "grpc" (want http or https)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.job.Timeout = time.Second
			res := p.Probe(context.Background(), tt.job)
			requireDown(t, res, tt.wantErr, time.Second)
			require.Zero(t, res.HTTPStatus)
		})
	}
	t.Run("method allowed but not a token", func(t *testing.T) {
		// Only a list set in code can hold it (check.ParseMethods refuses it);
		// net/http refuses it before any connection.
		p := newProber(t, Options{Methods: []string{"GE T"}})
		res := p.Probe(context.Background(), check.Job{URL: "http://127.0.0.1:1/", Method: "GE T", Timeout: time.Second})
		requireDown(t, res, `invalid request: method "GE T"`, time.Second)
	})
}

func TestProbeHTTPHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		userAgent string
		want      string
	}{
		{name: "default user agent", want: DefaultUserAgent},
		{name: "configured user agent", userAgent: "acme-probe/2", want: "acme-probe/2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got.Store(r.Header.Get("User-Agent") + "|" + r.Header.Get("Accept-Encoding"))
			}))
			t.Cleanup(srv.Close)
			p := newProber(t, Options{UserAgent: tt.userAgent})
			res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
			require.Equal(t, check.ResultUp, res.Status, res.Error)
			// No Accept-Encoding: a compressed bomb would be inflated past
			// the body cap's intent.
			require.Equal(t, tt.want+"|", got.Load())
		})
	}
}

func TestProbeHTTPRedirects(t *testing.T) {
	t.Parallel()
	// /hop/N redirects to /hop/N-1; /hop/0 answers 200.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
		if err != nil {
			http.Redirect(w, r, r.URL.Path, http.StatusFound) // a loop
			return
		}
		if n == 0 {
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name         string
		maxRedirects int
		path         string
		wantStatus   check.ResultStatus
		wantHTTP     int
		wantErr      string
	}{
		{name: "five hops with the default limit", path: "/hop/5", wantStatus: check.ResultUp, wantHTTP: 200},
		{name: "six hops with the default limit", path: "/hop/6", wantStatus: check.ResultDown, wantHTTP: 302,
			wantErr: "stopped after 5 redirects"},
		{name: "a redirect loop", path: "/loop", wantStatus: check.ResultDown, wantHTTP: 302,
			wantErr: "stopped after 5 redirects"},
		{name: "custom limit", maxRedirects: 2, path: "/hop/3", wantStatus: check.ResultDown, wantHTTP: 302,
			wantErr: "stopped after 2 redirects"},
		{name: "following disabled judges the 3xx", maxRedirects: -1, path: "/hop/1", wantStatus: check.ResultDown,
			wantHTTP: 302, wantErr: "unexpected status 302 (want 200)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProber(t, Options{MaxRedirects: tt.maxRedirects})
			res := p.Probe(context.Background(), httpJob(srv.URL+tt.path, 5*time.Second))
			require.Equal(t, tt.wantStatus, res.Status, res.Error)
			require.Equal(t, tt.wantHTTP, res.HTTPStatus)
			require.Equal(t, tt.wantErr, res.Error)
		})
	}
}

// TestProbeHTTPNoCookies guards against state leaking between probes or
// hops: without a jar, a cookie set by one response is never sent back.
func TestProbeHTTPNoCookies(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("session"); err == nil {
			w.WriteHeader(http.StatusConflict)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s3cr3t", Path: "/"})
		if r.URL.Path == "/login" {
			http.Redirect(w, r, "/home", http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	p := newProber(t, Options{})
	for range 2 {
		res := p.Probe(context.Background(), httpJob(srv.URL+"/login", 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
	}
}

func TestProbeHTTPS(t *testing.T) {
	t.Parallel()
	srv := newTLSServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	tests := []struct {
		name    string
		roots   *x509.CertPool
		url     string
		wantErr string
	}{
		{name: "trusted certificate", roots: roots, url: srv.URL},
		{name: "unknown authority", url: srv.URL, wantErr: "tls: certificate signed by unknown authority"},
		{name: "wrong host name", roots: roots, url: strings.Replace(srv.URL, "127.0.0.1", "localhost", 1),
			wantErr: "tls: certificate is valid for example.com, *.example.com, not localhost"},
		{name: "https to a plain http port", roots: roots, url: strings.Replace(newPlainServer(t).URL, "http:", "https:", 1),
			wantErr: "http: server gave HTTP response to HTTPS client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProber(t, Options{RootCAs: tt.roots})
			res := p.Probe(context.Background(), httpJob(tt.url, 5*time.Second))
			if tt.wantErr == "" {
				require.Equal(t, check.ResultUp, res.Status, res.Error)
				return
			}
			requireDown(t, res, tt.wantErr, 5*time.Second)
		})
	}
}

// newTLSServer starts an httptest TLS server whose handshake failures,
// provoked on purpose, stay out of the test log.
func newTLSServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func newPlainServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	return srv
}

// TestProbeHTTPKeepAlive checks the shared transport: repeated probes of one
// target reuse a single connection instead of dialing each time.
func TestProbeHTTPKeepAlive(t *testing.T) {
	t.Parallel()
	srv, newConns := dialCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	p := newProber(t, Options{})
	for range 5 {
		res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
	}
	require.Equal(t, int64(1), newConns.Load())
}

// TestProbeConcurrent runs many probes through one Prober at once, which is
// how a worker uses it; -race checks the sharing.
func TestProbeConcurrent(t *testing.T) {
	t.Parallel()
	srv := newPlainServer(t)
	p := newProber(t, Options{})
	var wg sync.WaitGroup
	results := make([]check.Result, 32)
	for i := range results {
		wg.Go(func() { results[i] = p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second)) })
	}
	wg.Wait()
	for _, res := range results {
		require.Equal(t, check.ResultUp, res.Status, res.Error)
	}
}

func TestProbeDefaults(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	t.Cleanup(p.Close)
	require.Equal(t, DefaultDenyNetworks(), p.opts.DenyNetworks)
	require.Equal(t, []string{"GET", "HEAD", "OPTIONS"}, p.opts.Methods)
	require.Equal(t, DefaultMaxRedirects, p.opts.MaxRedirects)
	require.Equal(t, int64(DefaultMaxBodyBytes), p.opts.MaxBodyBytes)
	require.Equal(t, DefaultUserAgent, p.opts.UserAgent)
	require.Equal(t, int64(DefaultMaxResponseHeaderBytes), p.transport.MaxResponseHeaderBytes)
	require.Equal(t, DefaultMaxIdleConnsPerHost, p.transport.MaxIdleConnsPerHost)
	require.Equal(t, DefaultMaxIdleConns, p.transport.MaxIdleConns)
	require.Nil(t, p.transport.Proxy, "a proxy would dodge the deny list")
	require.NotNil(t, p.transport.TLSClientConfig.RootCAs, "system roots are loaded up front")
	require.NotNil(t, p.dialer.Control)
	require.WithinDuration(t, time.Now(), p.opts.Now(), time.Minute)

	// An empty, non-nil deny list allows everything: no hook at all.
	open := New(Options{DenyNetworks: []netip.Prefix{}})
	t.Cleanup(open.Close)
	require.Nil(t, open.dialer.Control)
	require.Empty(t, open.opts.DenyNetworks)
}

// A burst of concurrent probes to one host leaves its connections in the
// keep-alive pool, so the next burst dials nothing. With a pool smaller
// than a burst, each burst dialled anew and a busy worker ran out of
// ephemeral ports (TIME_WAIT).
func TestProbeBurstsReuseConnections(t *testing.T) {
	t.Parallel()
	const burst = 32
	var (
		mu       sync.Mutex
		inFlight int
		release  = make(chan struct{})
	)
	srv, dials := dialCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Hold every request until the whole burst is in flight, so the
		// burst really needs burst connections at once.
		mu.Lock()
		inFlight++
		wait := release
		if inFlight%burst == 0 {
			close(release)
			release = make(chan struct{})
		}
		mu.Unlock()
		<-wait
		w.WriteHeader(http.StatusOK)
	}))
	p := newProber(t, Options{})

	probeBurst := func() {
		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() {
				res := p.Probe(context.Background(), httpJob(srv.URL, 5*time.Second))
				assert.Equal(t, check.ResultUp, res.Status, res.Error)
			})
		}
		wg.Wait()
	}
	probeBurst()
	require.EqualValues(t, burst, dials.Load())
	probeBurst()
	require.EqualValues(t, burst, dials.Load(), "the second burst reuses the first one's connections")
}

// dialCountingServer serves h and counts the connections probes open to it.
func dialCountingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var dials atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &dials
}
