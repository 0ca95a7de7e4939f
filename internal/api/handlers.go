package api

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// badParam answers err if it is a query parameter error and reports
// whether it did.
func badParam(w http.ResponseWriter, err error) bool {
	if pe, ok := errors.AsType[*queryParamError](err); ok {
		writeError(w, http.StatusBadRequest, paramError(pe.name, pe.message))
		return true
	}
	return false
}

func (s *Server) createService(w http.ResponseWriter, r *http.Request) {
	var req serviceRequest
	if be := decodeBody(w, r, &req); be != nil {
		writeError(w, be.status, be.body)
		return
	}
	c, err := req.newCheck(s.policy)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c.Source = check.SourceAPI
	svc, err := s.reg.CreateService(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("service registered", zap.String("service", svc.Name), zap.String("check_id", svc.ID))
	w.Header().Set("Location", "/api/v1/services/"+svc.ID)
	writeJSON(w, http.StatusCreated, toServiceJSON(&svc))
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.reg.GetService(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toServiceJSON(&svc))
}

func (s *Server) updateService(w http.ResponseWriter, r *http.Request) {
	var req serviceRequest
	if be := decodeBody(w, r, &req); be != nil {
		writeError(w, be.status, be.body)
		return
	}
	svc, err := s.reg.UpdateService(r.Context(), r.PathValue("id"), func(c *check.Check) error {
		return req.merge(c, s.policy)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("service updated", zap.String("service", svc.Name), zap.String("check_id", svc.ID))
	writeJSON(w, http.StatusOK, toServiceJSON(&svc))
}

func (s *Server) deleteService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.reg.DeleteService(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("service deleted", zap.String("check_id", id))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) pauseService(w http.ResponseWriter, r *http.Request) {
	s.setPaused(w, r, true)
}

func (s *Server) resumeService(w http.ResponseWriter, r *http.Request) {
	s.setPaused(w, r, false)
}

func (s *Server) setPaused(w http.ResponseWriter, r *http.Request, paused bool) {
	svc, tr, err := s.reg.SetPaused(r.Context(), r.PathValue("id"), paused)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if tr != nil {
		s.log.Info("service state changed", zap.String("service", svc.Name), zap.String("check_id", svc.ID),
			zap.String("status", string(tr.To)))
		if s.onTransition != nil {
			s.onTransition(*tr)
		}
	}
	writeJSON(w, http.StatusOK, toServiceJSON(&svc))
}

// requireHistory answers 404 unless id names a service, deleted or not:
// history outlives the service it belongs to.
func (s *Server) requireHistory(w http.ResponseWriter, r *http.Request) bool {
	ok, err := s.reg.ServiceExists(r.Context(), r.PathValue("id"), true)
	if err == nil && !ok {
		err = registry.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

func (s *Server) listResults(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var (
		rq  registry.ResultQuery
		err error
	)
	if rq.Limit, err = parseLimit(q); badParam(w, err) {
		return
	}
	if rq.Since, err = parseTime(q, "since"); badParam(w, err) {
		return
	}
	if rq.Until, err = parseTime(q, "until"); badParam(w, err) {
		return
	}
	if !rq.Since.IsZero() && !rq.Until.IsZero() && rq.Since.After(rq.Until) {
		writeError(w, http.StatusBadRequest, paramError("since", "must not be after until"))
		return
	}
	if rq.Region, err = parseRegion(q); badParam(w, err) {
		return
	}
	rq.Cursor = q.Get("cursor")
	if !s.requireHistory(w, r) {
		return
	}
	results, next, err := s.reg.Results(r.Context(), r.PathValue("id"), rq)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := resultsJSON{Items: make([]resultJSON, 0, len(results))}
	for i := range results {
		out.Items = append(out.Items, toResultJSON(&results[i]))
	}
	if next != "" {
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listTransitions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := parseLimit(q)
	if badParam(w, err) {
		return
	}
	region, err := parseRegion(q)
	if badParam(w, err) {
		return
	}
	if !s.requireHistory(w, r) {
		return
	}
	ts, err := s.reg.Transitions(r.Context(), registry.TransitionQuery{CheckID: r.PathValue("id"), Limit: limit, Newest: true, Region: region})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOf(ts, toTransitionJSON))
}

func (s *Server) uptime(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	window, name, err := parseWindow(q.Get("window"), DefaultWindow, s.maxWindow)
	if badParam(w, err) {
		return
	}
	region, err := parseRegion(q)
	if badParam(w, err) {
		return
	}
	if badParam(w, checkRegionWindow(region, window, s.regionWindow)) {
		return
	}
	if !s.requireHistory(w, r) {
		return
	}
	until := s.now().UTC()
	since := until.Add(-window)
	var up registry.Uptime
	if region == "" {
		up, err = s.reg.Uptime(r.Context(), r.PathValue("id"), since, until)
	} else {
		up, err = s.reg.RegionUptime(r.Context(), r.PathValue("id"), region, since, until)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := uptimeJSON{Window: name, Checks: up.Checks, Failures: up.Failures,
		Since: formatTime(since), Until: formatTime(until), UptimeRatio: ratioUp(up.Checks, up.Failures)}
	out.Region = region
	if up.Checks > 0 {
		out.LatencyMs = &latencyJSON{Avg: millis(up.Latency.Avg), P95: millis(up.Latency.P95)}
	}
	writeJSON(w, http.StatusOK, out)
}
