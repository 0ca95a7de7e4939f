package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/check"
)

// MinFactsTTL is the least time a check's per-result series stay after
// its last probe by this process; a check's own interval stretches it
// (factsTTL).
const MinFactsTTL = 5 * time.Minute

// facts holds what the last probe of each check found that people alert
// on: its HTTP status and when its certificate expires. Workers see every
// result, so they export these; with several workers each exports the
// checks it probed lately, and a series a worker stopped seeing goes away
// after factsTTL instead of repeating a stale value forever.
type facts struct {
	now    func() time.Time
	status *prometheus.Desc
	expiry *prometheus.Desc

	mu     sync.Mutex
	checks map[string]checkFacts
}

type checkFacts struct {
	service    string
	httpStatus int
	certExpiry time.Time
	seen       time.Time
	ttl        time.Duration
}

func newFacts(now func() time.Time) *facts {
	labels := []string{"check_id", "service"}
	return &facts{
		now: now,
		status: prometheus.NewDesc(namespace+"_check_http_status",
			"HTTP status of each check's last probe by this process (absent when the probe got no response).", labels, nil),
		expiry: prometheus.NewDesc(namespace+"_check_cert_expiry_timestamp_seconds",
			"When the leaf certificate each TLS check's last probe saw expires, in Unix seconds.", labels, nil),
		checks: map[string]checkFacts{},
	}
}

// factsTTL is how long a result's facts stay current: a few of the
// check's intervals, and never less than MinFactsTTL.
func factsTTL(interval time.Duration) time.Duration {
	return max(3*interval, MinFactsTTL)
}

func (f *facts) record(r check.Result) {
	if r.CheckID == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.HTTPStatus == 0 && r.CertNotAfter.IsZero() {
		delete(f.checks, r.CheckID)
		return
	}
	f.checks[r.CheckID] = checkFacts{service: r.Service, httpStatus: r.HTTPStatus, certExpiry: r.CertNotAfter,
		seen: f.now(), ttl: factsTTL(r.Interval)}
}

func (f *facts) forget(checkID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.checks, checkID)
}

// Describe implements prometheus.Collector.
func (f *facts) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.status
	ch <- f.expiry
}

// Collect implements prometheus.Collector; it drops facts gone stale.
func (f *facts) Collect(ch chan<- prometheus.Metric) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.checks {
		if now.Sub(c.seen) > c.ttl {
			delete(f.checks, id)
			continue
		}
		if c.httpStatus != 0 {
			ch <- prometheus.MustNewConstMetric(f.status, prometheus.GaugeValue, float64(c.httpStatus), id, c.service)
		}
		if !c.certExpiry.IsZero() {
			ch <- prometheus.MustNewConstMetric(f.expiry, prometheus.GaugeValue,
				float64(c.certExpiry.UnixNano())/1e9, id, c.service)
		}
	}
}
