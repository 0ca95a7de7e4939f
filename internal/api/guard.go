package api

import (
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// Error codes of the requests Guard and the API refuse for who sent them
// or how, rather than for what they ask.
const (
	CodeCrossOrigin          = "cross_origin"
	CodeMisdirected          = "misdirected_request"
	CodeUnsupportedMediaType = "unsupported_media_type"
)

// GuardConfig configures Guard.
type GuardConfig struct {
	// AllowedHosts are the Host header values to answer, lower-case, each
	// a host name (any port) or host:port (that port only). Empty answers
	// any host.
	AllowedHosts []string
	Logger       *zap.Logger
}

// Guard refuses requests that a web page, rather than the user, made a
// browser send. Mount it outermost, outside auth.Middleware, because a
// browser attaches the credentials it has cached (basic auth) to requests
// any page makes: a refusal here must not depend on them.
//
//   - A Host that is not in cfg.AllowedHosts gets 421. A page on a domain
//     the attacker controls can rebind that domain to Vigil's address
//     (DNS rebinding) and then read and write it as same-origin; the Host
//     header still names the attacker's domain. /healthz, /readyz and
//     /metrics stay open to any Host, since kubelet, load balancers and
//     Prometheus address pods by IP.
//   - A state-changing request (any method but GET, HEAD and OPTIONS) from
//     another origin gets 403, judged by net/http's CrossOriginProtection:
//     Sec-Fetch-Site must be same-origin or none, or, from browsers that
//     do not send it, Origin must match Host. Requests with neither header
//     (curl, scripts, other servers) are no browser's and pass. The
//     WebSocket upgrade is a GET, but it opens a channel carrying the
//     user's credentials, so it is judged like a write (cross-site
//     WebSocket hijacking).
func Guard(cfg GuardConfig, next http.Handler) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &guard{next: next, log: log, hosts: cfg.AllowedHosts, cop: http.NewCrossOriginProtection()}
}

type guard struct {
	next  http.Handler
	log   *zap.Logger
	hosts []string
	cop   *http.CrossOriginProtection
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.hostAllowed(r) {
		g.log.Info("request for an unknown host refused", g.fields(r)...)
		writeError(w, http.StatusMisdirectedRequest, apiError{Code: CodeMisdirected,
			Message: "this server does not answer for host " + check.CleanText(r.Host, 256)})
		return
	}
	if err := g.crossOrigin(r); err != nil {
		g.log.Info("cross-origin request refused", append(g.fields(r), zap.Error(err))...)
		writeError(w, http.StatusForbidden, apiError{Code: CodeCrossOrigin,
			Message: "cross-origin requests may not change anything or open the WebSocket"})
		return
	}
	g.next.ServeHTTP(w, r)
}

func (g *guard) fields(r *http.Request) []zap.Field {
	return []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.String("host", r.Host), zap.String("origin", r.Header.Get("Origin")),
		zap.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")), zap.String("remote", r.RemoteAddr)}
}

func (g *guard) hostAllowed(r *http.Request) bool {
	switch {
	case len(g.hosts) == 0:
		return true
	case r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics":
		// kubelet probes and Prometheus scrapes address pods by IP.
		// Neither endpoint changes anything, and both are open without
		// credentials to whoever reaches the port anyway.
		return true
	}
	host := strings.ToLower(r.Host)
	if slices.Contains(g.hosts, host) {
		return true
	}
	name, _, err := net.SplitHostPort(host)
	if err != nil {
		return false
	}
	// An entry without a port allows every port; SplitHostPort strips the
	// brackets of an IPv6 literal, which an entry may hold with or without.
	return slices.Contains(g.hosts, name) || slices.Contains(g.hosts, "["+name+"]")
}

func (g *guard) crossOrigin(r *http.Request) error {
	if r.Method == http.MethodGet && isWebSocketPath(r.URL.Path) {
		upgrade := r.WithContext(r.Context())
		upgrade.Method = http.MethodPost
		return g.cop.Check(upgrade)
	}
	return g.cop.Check(r)
}

func isWebSocketPath(p string) bool { return p == "/ws" || strings.HasPrefix(p, "/ws/") }

// requireJSON answers 415 unless a request with a body declares it as
// JSON. An HTML form can post text/plain, urlencoded or multipart bodies
// to any site without asking it first (no CORS preflight), and the body
// parser would read a text/plain body shaped like JSON all the same.
// Bodiless writes (pause, resume, delete) need no Content-Type; Guard's
// cross-origin check is what protects them from other sites.
func requireJSON(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && mt == "application/json" {
		return true
	}
	writeError(w, http.StatusUnsupportedMediaType, apiError{Code: CodeUnsupportedMediaType,
		Message: "a request body must be sent as Content-Type: application/json"})
	return false
}
