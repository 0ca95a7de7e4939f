package probe

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// targetJob is a job of type typ (tcp, tls or dns) for url.
func targetJob(typ check.Type, url string, timeout time.Duration) check.Job {
	job := httpJob(url, timeout)
	job.Type = typ
	return job
}

// hangingResolver never answers: every lookup through it lasts until its
// context ends, which is how a probe's timeout is shown to cover DNS.
func hangingResolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
}

func TestProbeTCP(t *testing.T) {
	t.Parallel()
	t.Run("a listener is up", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeTCP, "tcp://"+srv.addr(), 5*time.Second))
		require.Equal(t, check.ResultUp, res.Status, res.Error)
		require.Empty(t, res.Error)
		require.Zero(t, res.HTTPStatus)
		require.Positive(t, res.Latency)
		require.Eventually(t, func() bool { return srv.accepted.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	})
	t.Run("a closed port is down", func(t *testing.T) {
		t.Parallel()
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeTCP, "tcp://"+closedPort(t), 5*time.Second))
		requireDown(t, res, "connection refused", 5*time.Second)
	})
	t.Run("a name that does not resolve is down", func(t *testing.T) {
		t.Parallel()
		res := newProber(t, Options{}).Probe(context.Background(), targetJob(check.TypeTCP, "tcp://db.vigil.test:5432", 5*time.Second))
		requireDown(t, res, "dns: no such host", 5*time.Second)
	})
	t.Run("the timeout covers the lookup and the connect", func(t *testing.T) {
		t.Parallel()
		p := newProber(t, Options{Resolver: hangingResolver()})
		res := p.Probe(context.Background(), targetJob(check.TypeTCP, "tcp://db.vigil.test:5432", 200*time.Millisecond))
		requireDown(t, res, "timeout after 200ms", 200*time.Millisecond)
	})
	t.Run("the deny list applies", func(t *testing.T) {
		t.Parallel()
		srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
		p := newProber(t, Options{DenyNetworks: mustPrefixes("127.0.0.0/8")})
		res := p.Probe(context.Background(), targetJob(check.TypeTCP, "tcp://"+srv.addr(), 5*time.Second))
		requireDown(t, res, "target 127.0.0.1 is in a denied network (127.0.0.0/8)", 5*time.Second)
		requireNoConnection(t, srv)
	})
}

// A URL the registry would refuse is DOWN without a connection, with the
// registry's reason; credentials are not repeated.
func TestProbeTargetURLs(t *testing.T) {
	t.Parallel()
	srv := newRawServer(t, func(_ net.Conn, done <-chan struct{}) { <-done })
	p := newProber(t, Options{})
	tests := []struct {
		typ     check.Type
		url     string
		wantErr string
	}{
		{check.TypeTCP, "tcp://" + srv.addr() + "/path", "invalid url: must not have a path"},
		{check.TypeTCP, "http://" + srv.addr(), "invalid url: must be tcp://host:port for a tcp check"},
		{check.TypeTCP, "tcp://127.0.0.1", "invalid url: must name a host and a port"},
		{check.TypeTCP, "tcp://alice:s3cret@" + srv.addr(), "URL credentials are not allowed"},
		{check.TypeTLS, "tls://alice@" + srv.addr(), "URL credentials are not allowed"},
		{check.TypeTLS, "tls://" + srv.addr() + "?sni=x", "invalid url: must have no query parameter but server_name"},
		{check.TypeDNS, "dns://" + srv.addr() + "/example.com?type=ANY", "invalid url: type must be one of A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT"},
		{check.TypeDNS, "dns://u:p@" + srv.addr() + "/example.com", "URL credentials are not allowed"},
	}
	for _, tt := range tests {
		res := p.Probe(context.Background(), targetJob(tt.typ, tt.url, 5*time.Second))
		requireDown(t, res, tt.wantErr, 5*time.Second)
		require.NotContains(t, res.Error, "s3cret")
	}
	requireNoConnection(t, srv)
}

// BenchmarkProbeTCP measures one tcp probe of a local listener: a connect
// and a close, the whole cost of the type.
//
//	go test -run '^$' -bench ProbeTCP -benchmem ./internal/probe/
func BenchmarkProbeTCP(b *testing.B) {
	srv := newRawServer(b, func(net.Conn, <-chan struct{}) {})
	p := newProber(b, Options{})
	job := targetJob(check.TypeTCP, "tcp://"+srv.addr(), 5*time.Second)
	b.ReportAllocs()
	for b.Loop() {
		if res := p.Probe(context.Background(), job); res.Status != check.ResultUp {
			b.Fatalf("probe: %s", res.Error)
		}
	}
}

// The per-host cap counts tcp and tls probes against their target and dns
// probes against their resolver, like any other probe of that host:port.
func TestHostKeyOfTargets(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"tcp://DB.example:5432":                    "db.example:5432",
		"tls://10.0.0.9:443?server_name=a.example": "10.0.0.9:443",
		"dns://[::1]:53/x.example?type=A":          "[::1]:53",
	} {
		require.Equal(t, want, hostKey(targetJob(check.TypeTCP, url, time.Second)), url)
	}
}
