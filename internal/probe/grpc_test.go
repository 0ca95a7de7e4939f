package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigil-dev/vigil/internal/check"
)

// startGRPC serves s on a loopback port until the test ends and returns
// its address.
func startGRPC(t testing.TB, s *grpc.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-served
	})
	return ln.Addr().String()
}

// newHealthServer runs the stock grpc health service with the given
// statuses ("" is the server as a whole, SERVING unless set otherwise).
func newHealthServer(t testing.TB, statuses map[string]healthpb.HealthCheckResponse_ServingStatus, opts ...grpc.ServerOption) string {
	t.Helper()
	hs := health.NewServer()
	for svc, st := range statuses {
		hs.SetServingStatus(svc, st)
	}
	s := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s, hs)
	return startGRPC(t, s)
}

// testCertificate borrows httptest's certificate (valid for 127.0.0.1 and
// example.com) and returns it with a pool that trusts it.
func testCertificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	defer ts.Close()
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	return ts.TLS.Certificates[0], roots
}

func grpcJob(url, service string, timeout time.Duration) check.Job {
	job := httpJob(url, timeout)
	job.Type, job.GRPCService = check.TypeGRPC, service
	return job
}

func TestProbeGRPCHealth(t *testing.T) {
	t.Parallel()
	addr := newHealthServer(t, map[string]healthpb.HealthCheckResponse_ServingStatus{
		"payments": healthpb.HealthCheckResponse_SERVING,
		"ledger":   healthpb.HealthCheckResponse_NOT_SERVING,
	})
	down := newHealthServer(t, map[string]healthpb.HealthCheckResponse_ServingStatus{
		"": healthpb.HealthCheckResponse_NOT_SERVING,
	})
	p := newProber(t, Options{})

	tests := []struct {
		name    string
		addr    string
		service string
		wantErr string
	}{
		{name: "whole server serving", addr: addr},
		{name: "named service serving", addr: addr, service: "payments"},
		{name: "named service not serving", addr: addr, service: "ledger",
			wantErr: `grpc health: service "ledger" is NOT_SERVING`},
		{name: "unknown service", addr: addr, service: "x", wantErr: `grpc health: service "x" unknown (NotFound)`},
		{name: "whole server not serving", addr: down, wantErr: "grpc health: server is NOT_SERVING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := grpcJob("grpc://"+tt.addr, tt.service, 5*time.Second)
			res := p.Probe(context.Background(), job)
			require.Equal(t, job.CheckID, res.CheckID)
			require.Equal(t, job.ScheduledAt, res.ScheduledAt)
			require.Equal(t, fixedNow(), res.CheckedAt)
			require.Zero(t, res.HTTPStatus)
			require.Positive(t, res.Latency)
			if tt.wantErr == "" {
				require.Equal(t, check.ResultUp, res.Status, res.Error)
				require.Empty(t, res.Error)
				return
			}
			requireDown(t, res, tt.wantErr, 5*time.Second)
		})
	}
}

func TestProbeGRPCS(t *testing.T) {
	t.Parallel()
	cert, roots := testCertificate(t)
	addr := newHealthServer(t, nil, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))

	t.Run("trusted certificate", func(t *testing.T) {
		p := newProber(t, Options{RootCAs: roots})
		res := p.Probe(context.Background(), grpcJob("grpcs://"+addr, "", 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
	})
	t.Run("unknown authority", func(t *testing.T) {
		p := newProber(t, Options{})
		res := p.Probe(context.Background(), grpcJob("grpcs://"+addr, "", 5*time.Second))
		requireDown(t, res, "tls: certificate signed by unknown authority", 5*time.Second)
	})
}

// fakeHealth answers Check with a fixed response or error, for answers the
// stock health server never gives.
type fakeHealth struct {
	healthpb.UnimplementedHealthServer
	resp *healthpb.HealthCheckResponse
	err  error
}

func (f *fakeHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return f.resp, f.err
}

func TestProbeGRPCOddAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		health  healthpb.HealthServer // nil registers no health service
		service string
		wantErr string
	}{
		{name: "no health service", wantErr: "grpc health: server does not implement grpc.health.v1.Health (Unimplemented)"},
		{name: "service unknown status", service: "x",
			health:  &fakeHealth{resp: &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVICE_UNKNOWN}},
			wantErr: `grpc health: service "x" unknown`},
		{name: "unknown status", service: "x",
			health:  &fakeHealth{resp: &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_UNKNOWN}},
			wantErr: `grpc health: service "x" is UNKNOWN`},
		{name: "other error code",
			health:  &fakeHealth{err: status.Error(codes.PermissionDenied, "not for you")},
			wantErr: "grpc health: PermissionDenied: not for you"},
		{name: "server says unavailable",
			health:  &fakeHealth{err: status.Error(codes.Unavailable, "draining")},
			wantErr: "grpc: unavailable: draining"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := grpc.NewServer()
			if tt.health != nil {
				healthpb.RegisterHealthServer(s, tt.health)
			}
			addr := startGRPC(t, s)
			p := newProber(t, Options{})
			res := p.Probe(context.Background(), grpcJob("grpc://"+addr, tt.service, 5*time.Second))
			requireDown(t, res, tt.wantErr, 5*time.Second)
		})
	}
}

func TestProbeGRPCUnreachable(t *testing.T) {
	t.Parallel()
	const timeout = 700 * time.Millisecond
	blackHole := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
	garbage := newRawServer(t, func(c net.Conn, done <-chan struct{}) {
		_, _ = c.Read(make([]byte, 1024))
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
		<-done
	})
	tests := []struct {
		name    string
		url     string
		resolve *net.Resolver
		wantErr string
	}{
		{name: "closed port", url: "grpc://" + closedPort(t), wantErr: "connection refused"},
		{name: "black hole that never answers", url: "grpc://" + blackHole.addr(), wantErr: "timeout after 700ms"},
		{name: "tls to a black hole", url: "grpcs://" + blackHole.addr(), wantErr: "timeout after 700ms"},
		{name: "no such host", url: "grpc://health.vigil.test:50051", wantErr: "dns: no such host"},
		// The exact text is grpc-go's; only its start is ours.
		{name: "not a grpc server", url: "grpc://" + garbage.addr()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newProber(t, Options{})
			res := p.Probe(context.Background(), grpcJob(tt.url, "", timeout))
			if tt.wantErr == "" {
				require.Equal(t, check.ResultDown, res.Status)
				require.True(t, strings.HasPrefix(res.Error, "grpc: unavailable: error reading server preface: "), res.Error)
				require.LessOrEqual(t, res.Latency, timeout+time.Second)
				return
			}
			requireDown(t, res, tt.wantErr, timeout)
		})
	}
}

func TestProbeGRPCDenyNetworks(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
	loopback, err := ParseNetworks("127.0.0.0/8")
	require.NoError(t, err)
	p := newProber(t, Options{DenyNetworks: loopback})
	res := p.Probe(context.Background(), grpcJob("grpc://"+srv.addr(), "", 5*time.Second))
	requireDown(t, res, "target 127.0.0.1 is in a denied network (127.0.0.0/8)", 5*time.Second)
	requireNoConnection(t, srv)

	t.Run("metadata endpoint denied by default", func(t *testing.T) {
		p := newProber(t, Options{})
		res := p.Probe(context.Background(), grpcJob("grpc://169.254.169.254:80", "", 5*time.Second))
		requireDown(t, res, "target 169.254.169.254 is in a denied network (169.254.0.0/16)", 5*time.Second)
	})
}

func TestProbeGRPCBadJobs(t *testing.T) {
	t.Parallel()
	p := newProber(t, Options{})
	tests := []struct {
		url     string
		wantErr string
	}{
		{url: "grpc://[::1", wantErr: "invalid url"},
		{url: "http://127.0.0.1:1", wantErr: `unsupported url scheme "http" (want grpc or grpcs)`},
		{url: "grpc://127.0.0.1", wantErr: "invalid url: want grpc://host:port"},
		{url: "grpc://:50051", wantErr: "invalid url: want grpc://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			res := p.Probe(context.Background(), grpcJob(tt.url, "", time.Second))
			requireDown(t, res, tt.wantErr, time.Second)
		})
	}
}
