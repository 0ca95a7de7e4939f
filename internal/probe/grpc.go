package probe

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
)

// probeGRPC calls grpc.health.v1.Health/Check on the job's target.
//
// It dials a fresh connection for every probe and closes it before
// returning, as the kubelet's gRPC probe does, rather than caching
// connections per target. A cached channel that saw a failure sits in
// gRPC's reconnect backoff (up to two minutes) and fails fast with its old
// error, so a recovered service would stay DOWN long after it came back;
// shared channels would also need reference counting so one probe's
// eviction cannot cancel another's call. Per-probe dialing has no stale
// state, nothing to bound, nothing to leak, and its dial errors belong to
// this probe alone, which is what lets them be reported precisely. The
// price, a TCP (and TLS) handshake per probe, is small at probe rates of
// at most one per second per check and is part of what a real client
// would pay anyway. It adds up when many checks share one host: every
// probe leaves a socket in TIME_WAIT for a minute, so a worker sustains
// only some 470 gRPC probes a second to one host:port on Linux's default
// 28,000 ephemeral ports. The per-host cap (hostLimiter) applies here as
// well; it bounds the dials and calls in flight to a host, not their rate.
func (p *Prober) probeGRPC(ctx context.Context, job check.Job) outcome {
	u, err := url.Parse(job.URL)
	switch {
	case err != nil:
		return outcome{failure: "invalid url"}
	case u.User != nil:
		return outcome{failure: errURLCredentials}
	}
	var creds credentials.TransportCredentials
	switch u.Scheme {
	case "grpc":
		creds = insecure.NewCredentials()
	case "grpcs":
		creds = credentials.NewTLS(p.tlsConfig())
	default:
		return outcome{failure: fmt.Sprintf("unsupported url scheme %q (want grpc or grpcs)", u.Scheme)}
	}
	if u.Hostname() == "" || u.Port() == "" {
		return outcome{failure: "invalid url: want grpc://host:port"}
	}

	var dials dialRecorder
	// passthrough hands host:port to our dialer untouched, so name
	// resolution happens in net.Dialer like for HTTP: same resolver, same
	// deny check on the resolved address, same DNS error messages.
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(u.Hostname(), u.Port()),
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := p.dialer.DialContext(ctx, "tcp", addr)
			dials.record(err)
			return c, err
		}),
		grpc.WithUserAgent(p.opts.UserAgent),
		grpc.WithMaxHeaderListSize(uint32(min(p.opts.MaxResponseHeaderBytes, 1<<31))),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(int(min(p.opts.MaxBodyBytes, 1<<31)))),
		grpc.WithDisableServiceConfig(),
		grpc.WithDisableRetry(),
	)
	if err != nil {
		return outcome{failure: "invalid grpc target: " + err.Error()}
	}
	defer func() { _ = conn.Close() }()

	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: job.GRPCService})
	if err != nil {
		return grpcFailure(err, job.GRPCService, dials.last())
	}
	switch st := resp.GetStatus(); st {
	case healthpb.HealthCheckResponse_SERVING:
		// Conditions see the serving status by name: status == "SERVING".
		return outcome{facts: &cond.Input{Status: st.String()}}
	case healthpb.HealthCheckResponse_SERVICE_UNKNOWN:
		return outcome{failure: fmt.Sprintf("grpc health: %s unknown", subject(job.GRPCService))}
	default:
		return outcome{failure: fmt.Sprintf("grpc health: %s is %s", subject(job.GRPCService), st)}
	}
}

// subject names what the health request asked about.
func subject(service string) string {
	if service == "" {
		return "server"
	}
	return fmt.Sprintf("service %q", service)
}

// grpcFailure turns a failed health call into an outcome. dialErr is the
// last error of this probe's own dialer: gRPC flattens it into a status
// string, so it is kept aside to be described like an HTTP dial error.
func grpcFailure(err error, service string, dialErr error) outcome {
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound:
		return outcome{failure: fmt.Sprintf("grpc health: %s unknown (NotFound)", subject(service))}
	case codes.Unimplemented:
		return outcome{failure: "grpc health: server does not implement grpc.health.v1.Health (Unimplemented)"}
	case codes.DeadlineExceeded:
		return outcome{err: context.DeadlineExceeded}
	case codes.Canceled:
		return outcome{err: context.Canceled}
	case codes.Unavailable:
		if dialErr != nil {
			return outcome{err: dialErr}
		}
		if msg, ok := tlsText(st.Message()); ok {
			return outcome{failure: msg}
		}
		// Drop the transport's wrapping so the cause leads.
		msg := strings.TrimPrefix(st.Message(), "connection error: desc = ")
		return outcome{failure: "grpc: unavailable: " + strings.Trim(msg, `"`)}
	default:
		return outcome{failure: fmt.Sprintf("grpc health: %s: %s", st.Code(), st.Message())}
	}
}

// dialRecorder keeps the outcome of the latest dial of one probe.
type dialRecorder struct {
	mu  sync.Mutex
	err error
}

func (d *dialRecorder) record(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

func (d *dialRecorder) last() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}
