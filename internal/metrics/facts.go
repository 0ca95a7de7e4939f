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
//
// The series carry vigil_check_up's labels. A worker has no registry to
// look them up in, so the job brings their values (check.Job.MetricLabels,
// resolved by the scheduler's process) while the label names are fixed
// when the process starts: check_id, service, namespace, name and
// label_<key> for the keys of the worker's own VIGIL_METRIC_LABELS. A
// fixed set keeps one label set per series name in every scrape, however
// the jobs' labels change during a rolling change of the allow-list: a
// job's label the worker does not export is dropped, one the job lacks is
// empty (which Prometheus reads as absent).
type facts struct {
	now    func() time.Time
	status *prometheus.Desc
	expiry *prometheus.Desc
	// extraNames are the label names after check_id and service, in the
	// Descs' order.
	extraNames []string

	mu     sync.Mutex
	checks map[string]checkFacts
}

type checkFacts struct {
	// labels are the label values in the Descs' order.
	labels     []string
	httpStatus int
	certExpiry time.Time
	seen       time.Time
	ttl        time.Duration
}

// newFacts builds the collector; keys are the allow-listed label keys
// (ParseLabelKeys) whose label_<key> the series carry.
func newFacts(now func() time.Time, keys []string) *facts {
	labels := checkLabelNamesFor(keys)
	return &facts{
		now:        now,
		extraNames: labels[2:],
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
	f.checks[r.CheckID] = checkFacts{labels: f.labelValues(r), httpStatus: r.HTTPStatus, certExpiry: r.CertNotAfter,
		seen: f.now(), ttl: factsTTL(r.Interval)}
}

// labelValues are r's series' label values. The job's labels came over
// the broker from another process: only the first check.MaxMetricLabels
// count, only names this collector exports are used, and every value is
// cleaned and cut to a label value's length.
func (f *facts) labelValues(r check.Result) []string {
	v := make([]string, 2+len(f.extraNames))
	v[0], v[1] = r.CheckID, r.Service
	ml := r.MetricLabels
	if len(ml) > check.MaxMetricLabels {
		ml = ml[:check.MaxMetricLabels]
	}
	for _, l := range ml {
		for i, name := range f.extraNames {
			if l.Name == name {
				v[2+i] = check.CleanText(l.Value, maxLabelValueBytes)
			}
		}
	}
	return v
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
			ch <- prometheus.MustNewConstMetric(f.status, prometheus.GaugeValue, float64(c.httpStatus), c.labels...)
		}
		if !c.certExpiry.IsZero() {
			ch <- prometheus.MustNewConstMetric(f.expiry, prometheus.GaugeValue,
				float64(c.certExpiry.UnixNano())/1e9, c.labels...)
		}
	}
}
