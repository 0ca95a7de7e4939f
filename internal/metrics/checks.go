package metrics

import (
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/check"
)

// checkEntry is what Metrics knows of one check.
type checkEntry struct {
	service string
	// extra holds the allow-listed label values; nil until SetCheckTags
	// told them (KnowsCheckTags).
	extra []string
	// up is the value of the up series while hasUp; series is the label
	// values it was last written with (nil: no series).
	up     float64
	hasUp  bool
	series []string
	// epoch is Metrics.epoch when the entry last changed (see Prune).
	epoch uint64
}

// entry returns checkID's entry, created when missing, stamped with the
// current epoch. Callers hold m.mu.
func (m *Metrics) entry(checkID string) *checkEntry {
	e, ok := m.checks[checkID]
	if !ok {
		e = &checkEntry{}
		m.checks[checkID] = e
	}
	e.epoch = m.epoch
	return e
}

// labelValues are the label values of checkID's per-check series. Callers
// hold m.mu.
func (m *Metrics) labelValues(checkID string, e *checkEntry) []string {
	v := make([]string, 0, len(checkLabelNames)+len(m.opts.labelKeys))
	v = append(v, checkID, e.service)
	if m.opts.kubernetes {
		ns, name := namesOf(e.service)
		v = append(v, ns, name)
	} else {
		v = append(v, "", "")
	}
	if e.extra != nil {
		return append(v, e.extra...)
	}
	return append(v, make([]string, len(m.opts.labelKeys))...)
}

// setSeries writes e's up series, moving it when its labels changed.
// Callers hold m.mu.
func (m *Metrics) setSeries(checkID string, e *checkEntry) {
	if !e.hasUp {
		return
	}
	v := m.labelValues(checkID, e)
	if e.series != nil && !slices.Equal(e.series, v) {
		m.checkUp.DeleteLabelValues(e.series...)
	}
	e.series = v
	m.checkUp.WithLabelValues(v...).Set(e.up)
}

// clearCheckUp removes the check's up series but remembers its labels, so
// a paused check that resumes needs no new look-up of them.
func (m *Metrics) clearCheckUp(checkID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.checks[checkID]
	if !ok {
		return
	}
	if e.series != nil {
		m.checkUp.DeleteLabelValues(e.series...)
	}
	e.series, e.hasUp = nil, false
	e.epoch = m.epoch
}

// CheckLabels reports whether the per-check series copy labels from tags
// (WithCheckLabels): only then does a process need to tell them.
func (m *Metrics) CheckLabels() bool { return m != nil && len(m.opts.labelKeys) > 0 }

// SetCheckTags tells the check's tags, from which its allow-listed label
// values are taken, and moves its up series when they changed. Without
// WithCheckLabels it does nothing.
func (m *Metrics) SetCheckTags(checkID string, tags []string) {
	if !m.CheckLabels() {
		return
	}
	extra := tagValues(m.opts.labelKeys, tags)
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(checkID)
	if e.extra != nil && slices.Equal(e.extra, extra) {
		return
	}
	e.extra = extra
	m.setSeries(checkID, e)
}

// KnowsCheckTags reports whether SetCheckTags was told checkID's tags (or
// none are needed), so a process can look them up once per check rather
// than once per transition.
func (m *Metrics) KnowsCheckTags(checkID string) bool {
	if !m.CheckLabels() {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.checks[checkID]
	return ok && e.extra != nil
}

// Epoch returns a mark to pass to Prune: take it before reading the list
// of live checks.
func (m *Metrics) Epoch() uint64 {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch++
	return m.epoch
}

// Prune forgets the checks for which live is false and that did not change
// since the mark (Epoch) was taken: checks deleted from the registry, whose
// delete no transition reports. A check that changed after the mark may be
// newer than the list live was read from, so it is kept.
func (m *Metrics) Prune(mark uint64, live func(checkID string) bool) int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, e := range m.checks {
		if e.epoch >= mark || live(id) {
			continue
		}
		if e.series != nil {
			m.checkUp.DeleteLabelValues(e.series...)
		}
		delete(m.checks, id)
		n++
	}
	return n
}

// buildInfo is vigil_build_info: always 1, its labels say what runs.
// Without a revision from the build it takes the one Go stamped into the
// binary, when it did (builds from a git checkout without -buildvcs=false).
func buildInfo(version, revision string) prometheus.Gauge { //nolint:ireturn // prometheus.NewGauge hands out only the interface
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		revision = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && s.Value != "" {
					revision = s.Value
				}
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build of Vigil this process runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// LabelJobs fills each job's MetricLabels with the labels beyond check_id
// and service that the check's per-check series carry in this process:
// namespace and name in Kubernetes mode, and the allow-listed labels once
// the check's tags are known (SetCheckTags). A worker's per-check facts
// then carry what vigil_check_up carries, though the worker never reads
// the registry. Empty values are left out (an empty label is an absent
// one), so a job outside Kubernetes mode and without an allow-list is the
// message it always was.
func (m *Metrics) LabelJobs(jobs []check.Job) {
	if m == nil || !m.opts.kubernetes && len(m.opts.labelKeys) == 0 {
		return
	}
	names := checkLabelNamesFor(m.opts.labelKeys)[len(checkLabelNames):]
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range jobs {
		j := &jobs[i]
		var ls []check.MetricLabel
		if m.opts.kubernetes {
			if ns, name := namesOf(j.Service); ns != "" {
				ls = append(ls, check.MetricLabel{Name: "namespace", Value: ns}, check.MetricLabel{Name: "name", Value: name})
			}
		}
		if e, ok := m.checks[j.CheckID]; ok {
			for k, v := range e.extra {
				if v != "" {
					ls = append(ls, check.MetricLabel{Name: names[k], Value: v})
				}
			}
		}
		j.MetricLabels = ls
	}
}
