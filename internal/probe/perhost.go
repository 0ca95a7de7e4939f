package probe

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/vigil-dev/vigil/internal/check"
)

// hostLimiter caps the probes in flight per target host:port.
//
// Jobs reach a worker in bursts (a broker message carries up to fifty, and
// the worker runs a thousand at once), and with every check behind one
// ingress a burst is hundreds of simultaneous requests to one host. The
// transport then opens a connection per request, keeps MaxIdleConnsPerHost
// of them and closes the rest, and the next burst dials again: a worker
// with 50,000 checks on one host left ~13,500 sockets in TIME_WAIT and
// achieved almost none of its probes. Capped at n in flight, a host never
// needs more than n connections, the pool (sized to hold n) keeps them all,
// and later probes reuse them. The cap also spares the target a burst of a
// thousand parallel health checks from one worker.
//
// Entries exist only while a probe holds or waits for a slot of their host,
// so the map is bounded by the worker's concurrency however many hosts it
// probes over time.
type hostLimiter struct {
	n     int64
	mu    sync.Mutex
	hosts map[string]*hostSlots
}

type hostSlots struct {
	sem *semaphore.Weighted
	// refs counts the probes holding or waiting for a slot; guarded by
	// hostLimiter.mu. The entry is deleted when it drops to zero.
	refs int
	// waiting counts the probes blocked in Acquire (for tests).
	waiting atomic.Int32
}

func newHostLimiter(n int) *hostLimiter {
	return &hostLimiter{n: int64(n), hosts: map[string]*hostSlots{}}
}

// acquire takes a slot of key's host, waiting at most wait, and returns
// the function that gives it back. When no slot comes free in time (or
// ctx ends first) release is a no-op and the caller probes without a slot
// (see Prober.Probe for why). A nil limiter or an empty key holds nothing.
func (l *hostLimiter) acquire(ctx context.Context, key string, wait time.Duration) (release func()) {
	if l == nil || key == "" {
		return func() {}
	}
	l.mu.Lock()
	h := l.hosts[key]
	if h == nil {
		h = &hostSlots{sem: semaphore.NewWeighted(l.n)}
		l.hosts[key] = h
	}
	h.refs++
	l.mu.Unlock()

	if !h.sem.TryAcquire(1) {
		if wait <= 0 {
			l.unref(key, h)
			return func() {}
		}
		waitCtx, cancel := context.WithTimeout(ctx, wait)
		h.waiting.Add(1)
		err := h.sem.Acquire(waitCtx, 1)
		h.waiting.Add(-1)
		cancel()
		if err != nil {
			l.unref(key, h)
			return func() {}
		}
	}
	return func() {
		h.sem.Release(1)
		l.unref(key, h)
	}
}

func (l *hostLimiter) unref(key string, h *hostSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h.refs--
	if h.refs == 0 {
		delete(l.hosts, key)
	}
}

// slotWait is how long a probe may wait for a slot of its host: what the
// caller's deadline leaves beyond the probe's own timeout, and at most one
// timeout. The wait thus never eats into the time the target is given
// (the worker allows a second beyond the timeout, so that is its bound),
// and a probe never waits longer than it would have let the target take.
func slotWait(ctx context.Context, timeout time.Duration) time.Duration {
	wait := timeout
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-timeout)
	}
	return max(wait, 0)
}

// hostKey names the host:port a job connects to first, lower-cased and
// with the scheme's default port, so that http://API.example and
// http://api.example:80/x share a limit. Later hops of a redirect are not
// counted against their hosts: the first hop is what a check names. A job
// whose URL does not parse has no key; it fails before any connection.
func hostKey(job check.Job) string {
	u, err := url.Parse(job.URL)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}
