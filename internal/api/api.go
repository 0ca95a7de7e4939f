package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/notify"
)

// Config is everything a Server needs. Registry is required; every other
// field has a usable zero value.
type Config struct {
	Registry Registry
	Logger   *zap.Logger
	// ReadOnly refuses every change to the registry with 403: in
	// Kubernetes mode ServiceCheck resources are the source of truth.
	ReadOnly bool
	// Policy is what registered checks may do beyond the fields' own
	// rules (which HTTP methods they may probe with).
	Policy check.Policy
	// Now is the clock uptime windows end at; time.Now when nil.
	Now func() time.Time
	// MaxWindow is the longest uptime, SLO or rollups window served: the
	// rollup retention. MaxWindow (366 days) when zero.
	MaxWindow time.Duration
	// ResultsRetention is how long raw results are kept: the longest
	// uptime window served for one region (?region=), which rollups,
	// being per check, cannot answer. DefaultResultsRetention when zero.
	ResultsRetention time.Duration
	// OnTransition is called after pause or resume changed a service's
	// state, so the caller can broadcast the transition.
	OnTransition func(check.Transition)
	// WebSocket, when set, is served at GET /ws.
	WebSocket http.Handler
	// Ready backs /readyz; nil means always ready.
	Ready func(context.Context) error
	// Channels, when set, serves /api/v1/channels (channels.go);
	// Notifier sends their test messages.
	Channels Channels
	Notifier notify.Sender
	// StatusPages, when set, backs /api/v1/status-pages.
	StatusPages StatusPages
	// Extra registers further routes (dashboard, metrics) on a mux of
	// their own. They are consulted only for paths the API does not own,
	// so a catch-all "/" there never hides the API's JSON 404 and 405.
	Extra func(mux *http.ServeMux)
}

// Server is the REST API as an http.Handler.
type Server struct {
	reg          Registry
	log          *zap.Logger
	readOnly     bool
	policy       check.Policy
	now          func() time.Time
	maxWindow    time.Duration
	regionWindow time.Duration
	onTransition func(check.Transition)
	channels     Channels
	notifier     notify.Sender
	pages        StatusPages
	ready        func(context.Context) error
	mux          *http.ServeMux
	extra        *http.ServeMux
	handler      http.Handler
}

// New builds the Server described by cfg.
func New(cfg Config) *Server {
	s := &Server{
		reg:          cfg.Registry,
		log:          cfg.Logger,
		readOnly:     cfg.ReadOnly,
		policy:       cfg.Policy,
		now:          cfg.Now,
		maxWindow:    cfg.MaxWindow,
		regionWindow: cfg.ResultsRetention,
		onTransition: cfg.OnTransition,
		channels:     cfg.Channels,
		notifier:     cfg.Notifier,
		pages:        cfg.StatusPages,
		ready:        cfg.Ready,
		mux:          http.NewServeMux(),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxWindow <= 0 {
		s.maxWindow = MaxWindow
	}
	if s.regionWindow <= 0 {
		s.regionWindow = DefaultResultsRetention
	}
	s.routes(cfg.WebSocket)
	if cfg.Extra != nil {
		s.extra = http.NewServeMux()
		cfg.Extra(s.extra)
	}
	s.handler = s.logRequests(s.recoverPanics(http.HandlerFunc(s.dispatch)))
	return s
}

func (s *Server) routes(ws http.Handler) {
	m := s.mux
	health{ready: s.ready, unready: apiUnready}.routes(m)
	if ws != nil {
		m.Handle("GET /ws", ws)
	}
	api := func(pattern string, h http.HandlerFunc) { m.HandleFunc(pattern, cleanInput(h)) }
	api("POST /api/v1/services", s.writing(s.createService))
	api("GET /api/v1/services", s.listServices)
	// More specific than {id}, so it wins; ids are hex or UIDs, never "counts".
	api("GET /api/v1/services/counts", s.countServices)
	api("GET /api/v1/services/{id}", s.getService)
	api("PATCH /api/v1/services/{id}", s.writing(s.updateService))
	api("DELETE /api/v1/services/{id}", s.writing(s.deleteService))
	api("POST /api/v1/services/{id}/pause", s.writing(s.pauseService))
	api("POST /api/v1/services/{id}/resume", s.writing(s.resumeService))
	api("GET /api/v1/services/{id}/results", s.listResults)
	api("GET /api/v1/services/{id}/transitions", s.listTransitions)
	api("GET /api/v1/services/{id}/uptime", s.uptime)
	s.channelRoutes(api)
	api("GET /api/v1/services/{id}/rollups", s.rollups)
	api("GET /api/v1/services/{id}/slo", s.slo)
	s.statusPageRoutes(api)
	api("GET /api/v1/openapi.json", serveOpenAPI)
}

// cleanInput answers 400 for a path or query value holding NUL, another
// control character or invalid UTF-8, naming the parameter. No id, tag or
// cursor can hold one, and PostgreSQL refuses such text with an error
// that would otherwise become a 500.
func cleanInput(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); check.HasControl(id) {
			writeError(w, http.StatusBadRequest, paramError("id", "must not contain control characters or invalid UTF-8"))
			return
		}
		q := r.URL.Query()
		for _, name := range slices.Sorted(maps.Keys(q)) {
			if check.HasControl(name) {
				writeError(w, http.StatusBadRequest, apiError{Code: CodeInvalidParameter,
					Message: "query parameter names must not contain control characters or invalid UTF-8"})
				return
			}
			if slices.ContainsFunc(q[name], check.HasControl) {
				writeError(w, http.StatusBadRequest, paramError(name, "must not contain control characters or invalid UTF-8"))
				return
			}
		}
		next(w, r)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// dispatch routes to the API mux, to the Extra routes for paths the API
// does not own, and otherwise answers the mux's 404 or 405 in JSON.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	if s.extra != nil && !s.ownsPath(r.URL.Path) {
		if _, pattern := s.extra.Handler(r); pattern != "" {
			s.extra.ServeHTTP(w, r)
			return
		}
	}
	s.mux.ServeHTTP(&jsonErrors{ResponseWriter: w}, r)
}

func (s *Server) ownsPath(p string) bool {
	return p == "/api" || strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz" || p == "/ws"
}

// jsonErrors turns the mux's plain-text 404 and 405 into the API's JSON
// errors, keeping the Allow header the mux sets. Anything else (such as
// the redirect for an unclean path) passes through untouched.
type jsonErrors struct {
	http.ResponseWriter
	swallow bool
}

func (j *jsonErrors) WriteHeader(code int) {
	var e apiError
	switch code {
	case http.StatusNotFound:
		e = apiError{Code: CodeNotFound, Message: "no such route"}
	case http.StatusMethodNotAllowed:
		e = apiError{Code: CodeMethodNotAllowed, Message: "method not allowed; allowed: " + j.Header().Get("Allow")}
	default:
		j.ResponseWriter.WriteHeader(code)
		return
	}
	j.swallow = true
	writeError(j.ResponseWriter, code, e)
}

func (j *jsonErrors) Write(b []byte) (int, error) {
	if j.swallow {
		return len(b), nil
	}
	return j.ResponseWriter.Write(b)
}

// writing guards the routes that change the registry.
func (s *Server) writing(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.readOnly {
			writeError(w, http.StatusForbidden, apiError{Code: CodeReadOnly, Message: readOnlyMessage})
			return
		}
		if !requireJSON(w, r) {
			return
		}
		h(w, r)
	}
}

// requestState carries what a handler wants in the request's log line.
type requestState struct{ err error }

type stateKey struct{}

// recordError attaches err to the request's log line.
func recordError(r *http.Request, err error) {
	if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		st.err = err
	}
}

// statusWriter remembers the status for the log line. Unwrap lets
// http.ResponseController reach the connection, which the WebSocket
// upgrade needs to hijack it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection to the WebSocket upgrade, which answers 101
// on the raw connection; recording it keeps the log line truthful and
// stops recoverPanics from writing to a connection it no longer owns.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// logRequests logs every request at debug and every 5xx at error, with the
// cause a handler recorded.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			status := sw.status
			if status == 0 {
				// Nothing written: net/http sends 200.
				status = http.StatusOK
			}
			fields := []zap.Field{
				zap.String("method", r.Method),
				zap.String("path", r.URL.Path),
				zap.String("route", r.Pattern),
				zap.Int("http_status", status),
				zap.Duration("duration", time.Since(start)),
			}
			if id := r.PathValue("id"); id != "" {
				fields = append(fields, zap.String("check_id", id))
			}
			if st.err != nil {
				fields = append(fields, zap.Error(st.err))
			}
			if status >= 500 {
				s.log.Error("request failed", fields...)
				return
			}
			s.log.Debug("request", fields...)
		}()
		next.ServeHTTP(sw, r)
	})
}

// recoverPanics keeps a bug in one handler from taking the process down:
// the client gets a 500 and the panic is logged with its stack.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			recordError(r, fmt.Errorf("panic: %v", v))
			s.log.Error("handler panicked", zap.String("method", r.Method), zap.String("path", r.URL.Path),
				zap.Any("error", v), zap.Stack("stack"))
			if sw.status == 0 {
				writeError(sw, http.StatusInternalServerError, apiError{Code: CodeInternal, Message: "internal error"})
			}
		}()
		next.ServeHTTP(sw, r)
	})
}
