package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// health answers /healthz (the process runs) and /readyz (its dependencies
// answer) for the REST API and, through HealthRoutes, for processes without
// it. /readyz names the components that are down but never says why: it
// is open to anyone who reaches the port, and a driver's error can name
// hosts, users or worse. The cause goes to the log only.
type health struct {
	// ready backs /readyz; nil means always ready.
	ready func(context.Context) error
	// unready answers a failed readiness check and logs its cause. down
	// is never nil.
	unready func(w http.ResponseWriter, r *http.Request, down []string, cause error)
}

var okBody = map[string]string{"status": "ok"}

func (h health) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, okBody)
}

func (h health) readyz(w http.ResponseWriter, r *http.Request) {
	if h.ready != nil {
		if err := h.ready(r.Context()); err != nil {
			down := DownComponents(err)
			if down == nil {
				down = []string{}
			}
			h.unready(w, r, down, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, okBody)
}

// routes registers GET /healthz and GET /readyz on mux.
func (h health) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
}

// HealthRoutes registers /healthz and /readyz on mux for a process that
// serves no REST API (the worker), with the same rules as the API's: a
// failed readiness answers 503 {"status":"unavailable","down":[…]} with
// the names an *UnreadyError lists, and log gets the cause as "not ready".
func HealthRoutes(mux *http.ServeMux, ready func(context.Context) error, log *zap.Logger) {
	if log == nil {
		log = zap.NewNop()
	}
	health{ready: ready, unready: func(w http.ResponseWriter, _ *http.Request, down []string, cause error) {
		log.Warn("not ready", zap.Error(cause))
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "down": down})
	}}.routes(mux)
}

// apiUnready is the REST API's answer to a failed readiness check: its
// JSON error, naming what is down, with the cause on the request's log
// line.
func apiUnready(w http.ResponseWriter, r *http.Request, down []string, cause error) {
	recordError(r, cause)
	msg := "not ready"
	if len(down) > 0 {
		msg += ": " + strings.Join(down, ", ") + " unavailable"
	}
	writeError(w, http.StatusServiceUnavailable, apiError{Code: CodeNotReady, Message: msg})
}

// UnreadyError is a readiness failure that names the components that are
// down. Readiness answers show the names; Err, the cause, is only logged.
type UnreadyError struct {
	Down []string
	Err  error
}

func (e *UnreadyError) Error() string {
	return strings.Join(e.Down, ", ") + " unavailable: " + e.Err.Error()
}

func (e *UnreadyError) Unwrap() error { return e.Err }

// DownComponents returns the names an *UnreadyError inside err lists, if any.
func DownComponents(err error) []string {
	if u, ok := errors.AsType[*UnreadyError](err); ok {
		return u.Down
	}
	return nil
}
