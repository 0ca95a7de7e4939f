package api

import (
	"net/http"
	"time"

	"github.com/vigil-dev/vigil/internal/registry"
)

// Windows of the history endpoints.
const (
	// DefaultSLOWindow is the SLO's window when ?window= is absent.
	DefaultSLOWindow = 30 * 24 * time.Hour
	// CodeNoSLOTarget answers an SLO question about a service without a
	// target: 409, since the service exists but is not in a state that
	// has an SLO.
	CodeNoSLOTarget = "no_slo_target"
)

// burnWindows are the SLO's burn-rate windows, short to long: the fast
// and slow alerts of the multiwindow burn-rate method.
var burnWindows = []struct {
	name string
	d    time.Duration
}{{"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour}}

type latencyJSON struct {
	Avg float64 `json:"avg"`
	P95 float64 `json:"p95"`
}

type rollupLatencyJSON struct {
	Avg float64 `json:"avg"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

type rollupJSON struct {
	Start       string            `json:"start"`
	Checks      int64             `json:"checks"`
	Failures    int64             `json:"failures"`
	UptimeRatio *float64          `json:"uptime_ratio"`
	LatencyMs   rollupLatencyJSON `json:"latency_ms"`
}

type rollupsJSON struct {
	Resolution string       `json:"resolution"`
	Since      string       `json:"since"`
	Until      string       `json:"until"`
	Items      []rollupJSON `json:"items"`
}

type sloJSON struct {
	Target float64 `json:"target"`
	Window string  `json:"window"`
	Checks int64   `json:"checks"`
	// Achieved is the window's uptime in percent; null without results.
	Achieved *float64 `json:"achieved"`
	// ErrorBudgetRemainingRatio is 1 with no failure, 0 when the window's
	// failures used the budget exactly, negative past it.
	ErrorBudgetRemainingRatio *float64 `json:"error_budget_remaining_ratio"`
	// BurnRate is how fast each window spends the budget: 1 spends it
	// exactly over the SLO window. Null for a window without results.
	BurnRate map[string]*float64 `json:"burn_rate"`
}

func ratioUp(checks, failures int64) *float64 {
	if checks == 0 {
		return nil
	}
	r := float64(checks-failures) / float64(checks)
	return &r
}

func optFloat(v float64) *float64 {
	if v == 0 {
		return nil
	}
	return &v
}

// rollups answers GET /services/{id}/rollups?resolution=1h|1d&since=&until=.
// until defaults to now, since to until minus a day of hours (1h) or 30
// days (1d); the range is at most the rollup retention.
func (s *Server) rollups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	res, resName := time.Hour, "1h"
	switch q.Get("resolution") {
	case "", "1h":
	case "1d":
		res, resName = 24*time.Hour, "1d"
	default:
		writeError(w, http.StatusBadRequest, paramError("resolution", `must be "1h" or "1d"`))
		return
	}
	since, err := parseTime(q, "since")
	if badParam(w, err) {
		return
	}
	until, err := parseTime(q, "until")
	if badParam(w, err) {
		return
	}
	if until.IsZero() {
		until = s.now().UTC()
	}
	if since.IsZero() {
		since = until.Add(-24 * time.Hour)
		if res != time.Hour {
			since = until.Add(-DefaultSLOWindow)
		}
	}
	switch {
	case !until.After(since):
		writeError(w, http.StatusBadRequest, paramError("until", "must be after since"))
		return
	case until.Sub(since) > s.maxWindow:
		writeError(w, http.StatusBadRequest, paramError("since", "must be at most "+formatWindow(s.maxWindow)+" before until (the rollup retention)"))
		return
	}
	if !s.requireHistory(w, r) {
		return
	}
	ups, err := s.reg.Rollups(r.Context(), r.PathValue("id"), registry.RollupQuery{Since: since, Until: until, Resolution: res})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := rollupsJSON{Resolution: resName, Since: formatTime(since), Until: formatTime(until), Items: make([]rollupJSON, 0, len(ups))}
	for _, u := range ups {
		out.Items = append(out.Items, rollupJSON{Start: formatTime(u.Start), Checks: u.Checks, Failures: u.Failures,
			UptimeRatio: ratioUp(u.Checks, u.Failures),
			LatencyMs:   rollupLatencyJSON{Avg: millis(u.Latency.Avg), P95: millis(u.Latency.P95), Max: millis(u.Latency.Max)}})
	}
	writeJSON(w, http.StatusOK, out)
}

// slo answers GET /services/{id}/slo?window=30d.
func (s *Server) slo(w http.ResponseWriter, r *http.Request) {
	window, name, err := parseWindow(r.URL.Query().Get("window"), DefaultSLOWindow, s.maxWindow)
	if badParam(w, err) {
		return
	}
	ctx, id := r.Context(), r.PathValue("id")
	sv, err := s.reg.GetService(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if sv.SLOTarget == 0 {
		writeError(w, http.StatusConflict, apiError{Code: CodeNoSLOTarget, Field: "slo_target",
			Message: "service has no slo_target; set one with PATCH /api/v1/services/" + id})
		return
	}
	until := s.now().UTC()
	up, err := s.reg.Uptime(ctx, id, until.Add(-window), until)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	allowed := 1 - sv.SLOTarget/100
	out := sloJSON{Target: sv.SLOTarget, Window: name, Checks: up.Checks, BurnRate: map[string]*float64{}}
	if up.Checks > 0 {
		achieved := 100 * float64(up.Checks-up.Failures) / float64(up.Checks)
		remaining := 1 - float64(up.Failures)/float64(up.Checks)/allowed
		out.Achieved, out.ErrorBudgetRemainingRatio = &achieved, &remaining
	}
	for _, b := range burnWindows {
		u, err := s.reg.Uptime(ctx, id, until.Add(-b.d), until)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var rate *float64
		if u.Checks > 0 {
			v := float64(u.Failures) / float64(u.Checks) / allowed
			rate = &v
		}
		out.BurnRate[b.name] = rate
	}
	writeJSON(w, http.StatusOK, out)
}
