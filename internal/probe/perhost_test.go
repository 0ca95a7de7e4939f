package probe

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vigil-dev/vigil/internal/check"
)

// hostLoad counts what one target saw: connections accepted, requests in
// flight and the most that were ever in flight at once.
type hostLoad struct {
	accepted atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
}

func (l *hostLoad) enter() {
	n := l.inFlight.Add(1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (l *hostLoad) leave() { l.inFlight.Add(-1) }

func (l *hostLoad) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		l.accepted.Add(1)
	}
}

// newLoadServer starts an HTTP target that counts its load and runs
// handle (nil: answer at once) for every request.
func newLoadServer(t *testing.T, handle http.HandlerFunc) (*httptest.Server, *hostLoad) {
	t.Helper()
	load := &hostLoad{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		load.enter()
		defer load.leave()
		if handle != nil {
			handle(w, r)
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	srv.Config.ConnState = load.connState
	return srv, load
}

// probeBursts runs bursts of size concurrent probes of job, one burst
// after the other, and returns the errors of the probes that were DOWN.
func probeBursts(p *Prober, job check.Job, bursts, size int) []string {
	var (
		mu   sync.Mutex
		down []string
	)
	for range bursts {
		var wg sync.WaitGroup
		for range size {
			wg.Go(func() {
				if res := p.Probe(context.Background(), job); res.Status != check.ResultUp {
					mu.Lock()
					down = append(down, res.Error)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	return down
}

// TestProbeReusesConnectionsToOneHost is issue 19: checks behind one
// ingress arrive in bursts, and before the per-host cap every probe of a
// burst beyond the keep-alive pool's 64 dialled anew (1,808 connections
// for these 2,000 probes), leaving a socket in TIME_WAIT each time. Under
// the cap a host never needs more connections than the cap, and the pool
// keeps them all: once the first burst has opened them, no probe dials.
func TestProbeReusesConnectionsToOneHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cap  int
	}{
		{"default cap", 0},
		{"cap of 8", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, load := newLoadServer(t, nil)
			srv.Start()
			t.Cleanup(srv.Close)
			p := newProber(t, Options{MaxPerHost: tc.cap})
			want := tc.cap
			if want == 0 {
				want = DefaultMaxPerHost
			}

			job := httpJob(srv.URL+"/healthz", 30*time.Second)

			// The first burst dials the cap's worth, and a few more: while
			// dials are in progress the transport hands a connection that
			// comes free to a request already dialling, whose own dial then
			// ends up in the pool or closed.
			require.Empty(t, probeBursts(p, job, 1, 500))
			ramp := load.accepted.Load()
			require.LessOrEqual(t, ramp, int64(2*want+8), "a burst of 500 probes")
			// After that, every probe finds a pooled connection.
			require.Empty(t, probeBursts(p, job, 3, 500))
			t.Logf("connections accepted for 2,000 probes: %d (first burst: %d)", load.accepted.Load(), ramp)
			require.LessOrEqual(t, load.accepted.Load()-ramp, int64(2), "1,500 probes after the first burst")
			require.LessOrEqual(t, load.peak.Load(), int64(want))
		})
	}
}

// TestProbeInFlightPerHostNeverExceedsCap holds every request at the
// target until the cap's worth are in flight, leaves the other probes time
// to pile on, and requires that none did: without a cap all 200 would be
// at the target at once.
func TestProbeInFlightPerHostNeverExceedsCap(t *testing.T) {
	t.Parallel()
	const limit = 8
	release := make(chan struct{})
	srv, load := newLoadServer(t, func(http.ResponseWriter, *http.Request) { <-release })
	srv.Start()
	t.Cleanup(srv.Close)
	p := newProber(t, Options{MaxPerHost: limit})

	done := make(chan []string)
	go func() { done <- probeBursts(p, httpJob(srv.URL+"/healthz", 30*time.Second), 1, 200) }()
	requireCapHolds(t, load, limit, release)
	require.Empty(t, <-done)
	require.Equal(t, int64(limit), load.peak.Load())
}

// requireCapHolds waits until limit requests are held at the target, gives
// the probes waiting for a slot a moment in which a broken cap would let
// them through, requires that none came, and releases the target.
func requireCapHolds(t *testing.T, load *hostLoad, limit int64, release chan struct{}) {
	t.Helper()
	defer close(release)
	require.Eventually(t, func() bool { return load.inFlight.Load() >= limit }, 10*time.Second, time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, limit, load.peak.Load(), "probes in flight at one host")
}

// TestProbeGRPCInFlightPerHostNeverExceedsCap: gRPC probes dial per probe
// (see probeGRPC), so the cap does not save connections there, but it
// still spares one host a burst of parallel dials and calls.
func TestProbeGRPCInFlightPerHostNeverExceedsCap(t *testing.T) {
	t.Parallel()
	const limit = 4
	load := &hostLoad{}
	release := make(chan struct{})
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		load.enter()
		defer load.leave()
		<-release
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(s, healthServer{})
	addr := startGRPC(t, s)
	p := newProber(t, Options{MaxPerHost: limit})

	done := make(chan []string)
	go func() { done <- probeBursts(p, grpcJob("grpc://"+addr, "", 30*time.Second), 1, 50) }()
	requireCapHolds(t, load, limit, release)
	require.Empty(t, <-done)
	require.Equal(t, int64(limit), load.peak.Load())
}

// healthServer answers SERVING to every health check.
type healthServer struct {
	healthpb.UnimplementedHealthServer
}

func (healthServer) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// TestProbeHTTP2MultiplexesOneConnection: a TLS target that offers h2
// gets every probe of a burst as a stream on one connection, so the cap
// (below Go's default of 250 streams per connection) needs no second one.
func TestProbeHTTP2MultiplexesOneConnection(t *testing.T) {
	t.Parallel()
	var http1 atomic.Int64
	srv, load := newLoadServer(t, func(_ http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http1.Add(1)
		}
	})
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	p := newProber(t, Options{RootCAs: roots})
	job := httpJob(srv.URL+"/healthz", 30*time.Second)
	// One probe first: a cold burst races several handshakes before the
	// first connection is known to speak h2, and the extras are closed.
	require.Empty(t, probeBursts(p, job, 1, 1))

	require.Empty(t, probeBursts(p, job, 4, 500))

	require.Zero(t, http1.Load(), "requests not on HTTP/2")
	require.Equal(t, int64(1), load.accepted.Load())
}

// TestProbeLatencyExcludesSlotWait saturates a cap of one with a probe
// the target holds, starts a second probe that must wait, and releases
// the first. The second probe cannot have started its clock before the
// release (its slot came free only after it), so its latency is at most
// the time since the release, however long it waited before.
func TestProbeLatencyExcludesSlotWait(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	held := make(chan struct{})
	srv, _ := newLoadServer(t, func(_ http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(held)
			<-release
		}
	})
	srv.Start()
	t.Cleanup(srv.Close)
	p := newProber(t, Options{MaxPerHost: 1})

	slow := make(chan check.Result, 1)
	go func() { slow <- p.Probe(context.Background(), httpJob(srv.URL+"/slow", 30*time.Second)) }()
	<-held
	fast := make(chan check.Result, 1)
	go func() { fast <- p.Probe(context.Background(), httpJob(srv.URL+"/fast", 30*time.Second)) }()
	key := hostKey(httpJob(srv.URL, 0))
	require.Eventually(t, func() bool { return waiters(p, key) == 1 }, 10*time.Second, time.Millisecond,
		"the second probe never waited for a slot")
	// Let the wait last long enough that a clock started before it could
	// not hide inside the time after the release.
	time.Sleep(100 * time.Millisecond)

	releasedAt := time.Now()
	close(release)
	res := <-fast
	sinceRelease := time.Since(releasedAt)

	require.Equal(t, check.ResultUp, res.Status, res.Error)
	require.LessOrEqual(t, res.Latency, sinceRelease, "latency includes the wait for a slot")
	require.Equal(t, check.ResultUp, (<-slow).Status)
}

// waiters is how many probes wait for a slot of key's host.
func waiters(p *Prober, key string) int32 {
	p.hosts.mu.Lock()
	defer p.hosts.mu.Unlock()
	if h := p.hosts.hosts[key]; h != nil {
		return h.waiting.Load()
	}
	return 0
}

// hostEntries is how many hosts the limiter keeps an entry for.
func hostEntries(p *Prober) int {
	p.hosts.mu.Lock()
	defer p.hosts.mu.Unlock()
	return len(p.hosts.hosts)
}

// TestProbeRunsWithoutSlotAfterWait: a probe whose slot does not come
// free within what the caller's deadline leaves beyond its timeout runs
// anyway (see Probe for why), and still gets its whole timeout.
func TestProbeRunsWithoutSlotAfterWait(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	held := make(chan struct{})
	srv, load := newLoadServer(t, func(_ http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/held":
			close(held)
			<-release
		case "/hang":
			<-r.Context().Done()
		}
	})
	srv.Start()
	t.Cleanup(srv.Close)
	p := newProber(t, Options{MaxPerHost: 1})

	first := make(chan check.Result, 1)
	go func() { first <- p.Probe(context.Background(), httpJob(srv.URL+"/held", 30*time.Second)) }()
	<-held

	// As the worker calls it: a second beyond the timeout to wait in.
	probeWithin := func(path string, timeout time.Duration) check.Result {
		ctx, cancel := context.WithTimeout(context.Background(), timeout+300*time.Millisecond)
		defer cancel()
		return p.Probe(ctx, httpJob(srv.URL+path, timeout))
	}
	res := probeWithin("/fast", 30*time.Second)
	require.Equal(t, check.ResultUp, res.Status, res.Error)
	require.Equal(t, int64(2), load.peak.Load(), "the second probe ran beside the first")

	res = probeWithin("/hang", time.Second)
	requireDown(t, res, "timeout after 1s", time.Second)

	close(release)
	require.Equal(t, check.ResultUp, (<-first).Status)
}

// TestHostLimiterForgetsIdleHosts: a worker probes tens of thousands of
// hosts over time; an entry lives only while a probe holds or waits for
// one of its slots.
func TestHostLimiterForgetsIdleHosts(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	held := make(chan struct{})
	srv, _ := newLoadServer(t, func(http.ResponseWriter, *http.Request) {
		close(held)
		<-release
	})
	srv.Start()
	t.Cleanup(srv.Close)
	p := newProber(t, Options{})

	// Every name fails at the (fake) name server, after its slot is taken.
	errs := make([]string, 300)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = p.Probe(context.Background(), httpJob(fmt.Sprintf("http://host-%d.invalid/healthz", i), 30*time.Second)).Error
		})
	}
	wg.Wait()
	for _, e := range errs {
		require.Equal(t, "dns: no such host", e)
	}
	require.Zero(t, hostEntries(p), "hosts with no probe in flight are still in the map")

	held1 := make(chan check.Result, 1)
	go func() { held1 <- p.Probe(context.Background(), httpJob(srv.URL, 30*time.Second)) }()
	<-held
	require.Equal(t, 1, hostEntries(p), "the host with a probe in flight")
	close(release)
	require.Equal(t, check.ResultUp, (<-held1).Status)
	require.Zero(t, hostEntries(p))
}

func TestHostKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, want string
	}{
		{"http://API.example/healthz", "api.example:80"},
		{"http://api.example:80/other", "api.example:80"},
		{"https://api.example/healthz", "api.example:443"},
		{"https://api.example:8443", "api.example:8443"},
		{"http://[::1]:8080/", "[::1]:8080"},
		{"grpc://Billing.svc:9090", "billing.svc:9090"},
		{"grpcs://billing.svc:9443", "billing.svc:9443"},
		{"http://", ""},
		{"http://%zz", ""},
	} {
		t.Run(tc.url, func(t *testing.T) {
			require.Equal(t, tc.want, hostKey(check.Job{URL: tc.url}))
		})
	}
}
