package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/cond"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultMaxRedirects           = 5
	DefaultMaxBodyBytes           = 64 << 10
	DefaultMaxResponseHeaderBytes = 64 << 10
	DefaultUserAgent              = "Vigil/1 (+health check)"
	DefaultMaxPerHost             = 128
	DefaultMaxIdleConnsPerHost    = DefaultMaxPerHost
	DefaultMaxIdleConns           = 1024
)

// Options tune a Prober. The zero value is ready to use.
type Options struct {
	// DenyNetworks are CIDRs a probe may never connect to. They are enforced
	// at dial time on the resolved address, so neither DNS rebinding nor a
	// redirect can reach them. nil means DefaultDenyNetworks(); an empty,
	// non-nil slice allows everything. ParseNetworks reads the env form.
	DenyNetworks []netip.Prefix
	// AllowNetworks are CIDRs exempt from DenyNetworks: what a team does
	// want probed inside a denied range (its own 10.20.0.0/16). Allow
	// always wins over deny, whatever the prefix lengths, so keep it as
	// narrow as the services it is for. It is checked in the same dial-time
	// hook, so it cannot be used to reach anything else.
	AllowNetworks []netip.Prefix
	// Methods are the HTTP methods a job may use (compared without regard
	// to case); a job with another method is a DOWN result and no request
	// is sent. nil means DefaultMethods(). Probes repeat forever on a
	// schedule, so a worker that accepted any method would send a POST or
	// a DELETE to whatever URL a user registered, every interval.
	Methods []string
	// MaxRedirects is how many redirects an HTTP probe follows (default 5);
	// one more is DOWN "stopped after 5 redirects". A negative value follows
	// none and judges the 3xx response itself.
	MaxRedirects int
	// MaxBodyBytes caps how much of a response body is read (default
	// 64 KiB). The rest is discarded unread: the body is read only so a
	// server that stalls mid-body shows up, and a large body is no failure.
	MaxBodyBytes int64
	// MaxResponseHeaderBytes caps response headers (default 64 KiB), for
	// HTTP and for gRPC's header list alike.
	MaxResponseHeaderBytes int64
	// UserAgent is sent with every HTTP and gRPC request.
	UserAgent string
	// MaxIdleConnsPerHost bounds the keep-alive pool per target (default
	// and minimum: MaxPerHost, when there is a cap). Jobs arrive in bursts
	// (a message carries many), so a pool smaller than a burst's
	// connections closes the surplus and the next burst dials anew: with
	// 4, a worker at 2,500 probes/s over 32 hosts dialled nearly every
	// probe and left ~29,000 sockets in TIME_WAIT, and throughput
	// collapsed once ephemeral ports ran short; with 64 and no cap, so did
	// one at 5,000 probes/s of a single host. An idle connection costs a
	// file descriptor and a few KiB, and IdleConnTimeout closes it.
	MaxIdleConnsPerHost int
	// MaxIdleConns bounds the keep-alive pool over all targets (default
	// 1024).
	MaxIdleConns int
	// MaxPerHost caps the probes of one target host:port in flight at once
	// (default 128; negative: no cap). A probe waits for a slot before its
	// clock starts, and the keep-alive pool holds at least this many
	// connections per host, so thousands of checks behind one ingress reuse
	// at most MaxPerHost connections instead of dialling a new one for
	// most probes of every burst (see hostLimiter). At a target answering
	// in d, one host gets at most MaxPerHost/d probes a second from this
	// worker before probes queue for slots.
	MaxPerHost int
	// RootCAs verifies https, grpcs and tls targets; nil uses the system roots,
	// loaded by New.
	RootCAs *x509.CertPool
	// Resolver looks up host names; nil uses net.DefaultResolver.
	Resolver *net.Resolver
	// Now stamps a result's CheckedAt (default time.Now). Latency is always
	// measured on the monotonic clock: it is a measurement, not a timestamp,
	// and a frozen test clock must not turn it into zero.
	Now func() time.Time
}

// Prober runs probes. It is safe for concurrent use; one Prober serves a
// whole worker so HTTP keep-alive connections are shared between probes.
type Prober struct {
	opts      Options
	dialer    *net.Dialer
	transport *http.Transport
	hosts     *hostLimiter // nil: no per-host cap
	// conds keeps each distinct condition list compiled, so a check's
	// conditions are compiled once per worker, not per probe.
	conds *cond.Cache
	// tlsTransports serve the jobs with TLS options of their own.
	tlsTransports *transportCache
	// bodyBufs lends the buffers bodies kept for conditions are read
	// into (readBody).
	bodyBufs sync.Pool
}

// New returns a Prober with opts' zero fields set to their defaults.
func New(opts Options) *Prober {
	if opts.DenyNetworks == nil {
		opts.DenyNetworks = DefaultDenyNetworks()
	}
	if opts.Methods == nil {
		opts.Methods = DefaultMethods()
	}
	if opts.MaxRedirects == 0 {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxResponseHeaderBytes <= 0 {
		opts.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = DefaultMaxIdleConns
	}
	if opts.MaxPerHost == 0 {
		opts.MaxPerHost = DefaultMaxPerHost
	}
	if opts.MaxPerHost > 0 {
		// A pool smaller than the cap would close the connections of a
		// full host's surplus probes after every burst, which is the very
		// churn the cap is there to end.
		opts.MaxIdleConnsPerHost = max(opts.MaxIdleConnsPerHost, opts.MaxPerHost)
		opts.MaxIdleConns = max(opts.MaxIdleConns, opts.MaxPerHost)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RootCAs == nil {
		// Load the system roots now: parsing them takes a noticeable
		// moment, and paid lazily it would eat into the first https probe's
		// timeout. Failing here leaves nil, which retries lazily.
		if roots, err := x509.SystemCertPool(); err == nil {
			opts.RootCAs = roots
		}
	}

	dialer := &net.Dialer{Resolver: opts.Resolver, KeepAlive: 30 * time.Second}
	if len(opts.DenyNetworks) > 0 {
		dialer.Control = newPolicy(opts.DenyNetworks, opts.AllowNetworks).control
	}
	p := &Prober{opts: opts, dialer: dialer, conds: cond.NewCache(0)}
	p.tlsTransports = newTransportCache(p.newTransport)
	if opts.MaxPerHost > 0 {
		p.hosts = newHostLimiter(opts.MaxPerHost)
	}
	p.transport = p.newTransport(p.tlsConfig())
	return p
}

// newTransport builds an HTTP transport with the prober's dialer and
// limits and the given TLS configuration.
func (p *Prober) newTransport(tlsConf *tls.Config) *http.Transport {
	opts := p.opts
	return &http.Transport{
		// No proxy: through a proxy the dial-time deny check would vet the
		// proxy's address, not the target's, and the proxy would happily
		// fetch the metadata endpoint for us.
		Proxy:                  nil,
		DialContext:            p.dialer.DialContext,
		TLSClientConfig:        tlsConf,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           opts.MaxIdleConns,
		MaxIdleConnsPerHost:    opts.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: opts.MaxResponseHeaderBytes,
		// Health endpoints are small; asking for gzip would only let a
		// hostile server make us spend CPU inflating a bomb.
		DisableCompression: true,
	}
}

func (p *Prober) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: p.opts.RootCAs, MinVersion: tls.VersionTLS12}
}

// Close releases idle keep-alive connections. gRPC probes hold no
// connections between probes (see probeGRPC), so there is nothing else to
// release. The Prober stays usable; later probes dial afresh.
func (p *Prober) Close() {
	p.transport.CloseIdleConnections()
	p.tlsTransports.closeIdle()
}

// Probe runs job and reports its outcome. It never returns an error and
// never panics: every failure, including a bad job, is a DOWN result whose
// Error says what happened in a few words.
func (p *Prober) Probe(ctx context.Context, job check.Job) (res check.Result) {
	res = check.Result{CheckID: job.CheckID, Service: job.Service, ScheduledAt: job.ScheduledAt, Status: check.ResultDown,
		MetricLabels: job.MetricLabels}
	start := time.Now()
	defer func() {
		// A probe runs code we do not own against input we do not trust; a
		// panic in there must cost one result, not the worker.
		if r := recover(); r != nil {
			if res.CheckedAt.IsZero() {
				res.CheckedAt = start
			}
			res.Status, res.Error = check.ResultDown, fmt.Sprintf("internal error: probe panicked: %v", r)
		}
		res.Latency = time.Since(start)
		// Every path, the panic's included, ends here, so this is the one
		// place the target's text is made safe: a status message, a header
		// echoed in a parse error or a panic value may hold NUL, invalid
		// UTF-8 or megabytes, and PostgreSQL refuses the first two (failing
		// every result recorded beside this one) while the third would be
		// copied into every row, message and event the result produces.
		res.Error = check.CleanError(res.Error)
	}()

	timeout := effectiveTimeout(ctx, job)

	// Wait for a slot of the target's host, then start the clock: the
	// wait is this worker's queue, not the target's answer, so it is
	// neither latency nor part of the target's timeout. A probe whose
	// slot does not come free within slotWait runs anyway, without one.
	// Failing it instead would record DOWN for a target nobody asked (and
	// fire its alerts) only because other checks share its host, and
	// skipping it would leave a gap in its history. The slots stay full
	// that long only when the host answers slower than its checks are
	// due, and then its probes time out or show their latency on their
	// own; the cap is there to smooth bursts, not to hide a slow target.
	release := p.hosts.acquire(ctx, hostKey(job), slotWait(ctx, timeout))
	defer release()
	start = time.Now()
	res.CheckedAt = p.opts.Now()

	probeCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// The registry compiled the conditions already; a list that does not
	// compile here came from elsewhere (a newer registry, a hand-made job)
	// and fails without touching the target.
	conds, err := p.conds.Get(job.Conditions)
	if err != nil {
		res.Error = "invalid conditions: " + err.Error()
		return res
	}

	o := p.run(probeCtx, job, conds.Needs())

	res.HTTPStatus, res.Interval = o.httpStatus, job.Interval
	o.withTypeFacts()
	if o.facts != nil && o.facts.Cert != nil {
		res.CertNotAfter = o.facts.Cert.NotAfter
	}
	if o.err == nil && o.failure == "" && conds.Len() > 0 {
		o.failure = p.evalConditions(conds, o.facts, start)
	}
	switch {
	case o.err == nil && o.failure == "":
		res.Status = check.ResultUp
	case o.failure != "":
		res.Error = o.failure
	case probeCtx.Err() != nil && !errors.Is(ctx.Err(), context.Canceled):
		// Whatever error surfaced (a reset, an EOF, a wrapped cancel), the
		// probe ran out of time and that is the story worth telling.
		res.Error = timeoutMessage(timeout)
	default:
		res.Error = describe(o.err, timeout)
	}
	return res
}

// outcome is what a protocol-specific probe found: err for a transport
// failure (turned into words by describe), failure for a response that
// arrived but is not healthy (already in words), and facts for what it
// learnt of the target on the way (see Facts).
type outcome struct {
	httpStatus int
	failure    string
	err        error
	// facts is what the probe found for conditions and metrics; nil when
	// it has nothing beyond latency.
	facts *cond.Input
	// typeFacts is what a tcp, tls or dns probe learnt (facts.go);
	// withTypeFacts folds it into facts.
	typeFacts Facts
}

// evalConditions judges a healthy outcome by the job's conditions.
func (p *Prober) evalConditions(conds *cond.Set, facts *cond.Input, start time.Time) string {
	in := cond.Input{}
	if facts != nil {
		in = *facts
	}
	in.Latency, in.Now = time.Since(start), p.opts.Now()
	return conds.Eval(&in)
}

// withTypeFacts folds what a tcp, tls or dns probe learnt into the facts
// conditions and metrics read, so every type is judged in one place.
func (o *outcome) withTypeFacts() {
	if o.typeFacts.Cert == nil && o.typeFacts.Answers == nil {
		return
	}
	if o.facts == nil {
		o.facts = &cond.Input{}
	}
	if c := o.typeFacts.Cert; c != nil {
		o.facts.Cert = &cond.Cert{NotAfter: c.NotAfter, Subject: c.Subject, Issuer: c.Issuer}
	}
	if o.typeFacts.Answers != nil {
		o.facts.Answers = o.typeFacts.Answers
	}
}

// effectiveTimeout is the time job's probe may take: its own timeout (or
// the default), or less when the caller's deadline comes first (a worker
// shutting down), so the message names the time the probe actually had.
func effectiveTimeout(ctx context.Context, job check.Job) time.Duration {
	timeout := job.Timeout
	if timeout <= 0 {
		timeout = check.DefaultTimeout
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), 0)
	}
	return timeout
}

// run probes job with the prober of its type.
func (p *Prober) run(ctx context.Context, job check.Job, needs cond.Needs) outcome {
	switch job.Type {
	case check.TypeHTTP, "":
		return p.probeHTTP(ctx, job, needs)
	case check.TypeGRPC:
		return p.probeGRPC(ctx, job)
	case check.TypeTCP:
		return p.probeTCP(ctx, job)
	case check.TypeTLS:
		return p.probeTLS(ctx, job, needs)
	case check.TypeDNS:
		return p.probeDNS(ctx, job)
	default:
		return outcome{failure: fmt.Sprintf("unsupported check type %q", job.Type)}
	}
}
