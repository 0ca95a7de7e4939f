package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"path"
	"strings"

	"go.uber.org/zap"
)

// Identity returns who the request authenticated as: the basic-auth user
// name, "token" for a bearer token, or "" when the request passed without
// a credential (auth off, or an open route).
func Identity(ctx context.Context) string {
	id, _ := ctx.Value(identityKey{}).(string)
	return id
}

type identityKey struct{}

// tokenIdentity is what a bearer token authenticates as; tokens carry no
// name, and logging any part of one would leak it.
const tokenIdentity = "token"

// route is how a request is guarded.
type route int

const (
	routeOpen route = iota
	routeRead
	routeWrite
	routeWebSocket
	// routeOptional is a status page, its live feed or a badge: open to
	// anyone when the page is public, so the handler decides. A valid
	// credential is verified and passed on as the Identity; a missing or
	// wrong one passes as anonymous, which a private page then refuses.
	routeOptional
	routeOptionalWebSocket
)

// classify lists what is protected rather than what is open: the dashboard
// and its assets are served from paths this package does not own, and
// they must stay reachable so the page can load and ask for a token.
func classify(r *http.Request) route {
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	// Clean so that "/x/../api/v1" is judged as the /api/v1 the mux will
	// redirect it to.
	p = path.Clean(p)
	switch {
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return routeRead
		}
		// Any other method, including ones the API does not route, is
		// treated as a write: unknown means protected.
		return routeWrite
	case p == "/ws/status" || strings.HasPrefix(p, "/ws/status/"):
		return routeOptionalWebSocket
	case p == "/ws" || strings.HasPrefix(p, "/ws/"):
		return routeWebSocket
	case strings.HasPrefix(p, "/status/") || strings.HasPrefix(p, "/badges/"):
		return routeOptional
	}
	return routeOpen
}

// digest is the SHA-256 of a secret. Comparing digests instead of the
// secrets makes every comparison the same length, so subtle's comparison
// leaks neither content nor length.
type digest [sha256.Size]byte

type user struct {
	name     string
	nameSum  digest
	password digest
}

type guard struct {
	next         http.Handler
	log          *zap.Logger
	tokens       []digest
	users        []user
	protectReads bool
}

// Middleware returns next guarded by c. When c is not Enabled it returns
// next itself, so auth costs nothing when it is off.
//
// Open without a credential: /healthz, /readyz, /metrics, the dashboard and
// its assets (everything outside /api/ and /ws). Writes under /api/ always
// need a credential; GET/HEAD/OPTIONS under /api/ and /ws need one when
// c.ProtectReads. The WebSocket also accepts its token as the
// "bearer.<token>" subprotocol or the access_token query parameter (which
// is removed from the URL before next sees it, so no later log records it).
//
// Status pages (/status/), their live feeds (/ws/status/) and badges
// (/badges/) are open too, because a public page is for anyone; there a
// valid credential is verified and becomes the Identity, so the handler
// can show a private page to whoever presents one.
//
// Mount it outermost, around the API server and the WebSocket handler.
func Middleware(c Config, log *zap.Logger, next http.Handler) http.Handler {
	if !c.Enabled() {
		return next
	}
	if log == nil {
		log = zap.NewNop()
	}
	g := &guard{next: next, log: log, protectReads: c.ProtectReads}
	for _, t := range c.Tokens {
		g.tokens = append(g.tokens, sha256.Sum256([]byte(t)))
	}
	for name, pw := range c.Users {
		g.users = append(g.users, user{name: name, nameSum: sha256.Sum256([]byte(name)), password: sha256.Sum256([]byte(pw))})
	}
	log.Info("api authentication enabled", zap.Int("tokens", len(g.tokens)), zap.Int("users", len(g.users)),
		zap.Bool("protect_reads", g.protectReads))
	return g
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := classify(r)
	if rt == routeOptional || rt == routeOptionalWebSocket {
		g.next.ServeHTTP(w, g.scrub(g.identify(r, rt), rt))
		return
	}
	if rt == routeOpen || (rt != routeWrite && !g.protectReads) {
		g.next.ServeHTTP(w, g.scrub(r, rt))
		return
	}
	c, src, found, err := find(r, rt == routeWebSocket)
	fields := []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr)}
	switch {
	case !found:
		// Routine: the dashboard's first request, before it asks for a
		// token, lands here.
		g.log.Debug("unauthorized request", append(fields, zap.String("error", "no credential"))...)
		g.deny(w, r, "authentication required", "")
		return
	case err != nil:
		g.log.Warn("unauthorized request", append(fields, zap.String("source", string(src)), zap.Error(err))...)
		g.deny(w, r, "invalid credentials: "+err.Error(), "invalid_request")
		return
	}
	id, ok := g.verify(c)
	fields = append(fields, zap.String("source", string(src)), zap.String("user", id))
	if !ok {
		g.log.Warn("unauthorized request", append(fields, zap.String("error", "credential does not match"))...)
		bearerErr := ""
		if c.kind == kindBearer {
			bearerErr = "invalid_token"
		}
		g.deny(w, r, "invalid credentials", bearerErr)
		return
	}
	g.log.Debug("authenticated request", fields...)
	r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
	g.next.ServeHTTP(w, g.scrub(r, rt))
}

// identify attaches the identity of a valid credential to r, and leaves r
// anonymous otherwise: an open route has nothing to refuse.
func (g *guard) identify(r *http.Request, rt route) *http.Request {
	c, _, found, err := find(r, rt == routeOptionalWebSocket)
	if !found || err != nil {
		return r
	}
	id, ok := g.verify(c)
	if !ok {
		g.log.Debug("invalid credential on an open route", zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
}

// scrub removes a WebSocket access_token from the URL, whether or not it
// was the credential used, so that no later handler or log sees it.
func (g *guard) scrub(r *http.Request, rt route) *http.Request {
	if (rt != routeWebSocket && rt != routeOptionalWebSocket) || !r.URL.Query().Has(accessTokenParam) {
		return r
	}
	return withoutAccessToken(r)
}

// verify compares c against every configured secret of its kind without
// stopping at a match, so the time taken says nothing about which secret
// matched or how much of it. It returns the identity to log: "token", the
// user name for a configured user, or "(unknown)" for a name that is not
// configured (it may well be a mistyped password).
func (g *guard) verify(c credential) (string, bool) {
	switch c.kind {
	case kindBearer:
		sum := digest(sha256.Sum256([]byte(c.token)))
		match := 0
		for i := range g.tokens {
			match |= subtle.ConstantTimeCompare(sum[:], g.tokens[i][:])
		}
		return tokenIdentity, match == 1
	case kindBasic:
		nameSum := digest(sha256.Sum256([]byte(c.user)))
		pwSum := digest(sha256.Sum256([]byte(c.password)))
		named, matched := -1, -1
		for i := range g.users {
			n := subtle.ConstantTimeCompare(nameSum[:], g.users[i].nameSum[:])
			p := subtle.ConstantTimeCompare(pwSum[:], g.users[i].password[:])
			named = subtle.ConstantTimeSelect(n, i, named)
			matched = subtle.ConstantTimeSelect(n&p, i, matched)
		}
		if named < 0 {
			return "(unknown)", false
		}
		return g.users[named].name, matched >= 0
	}
	return "", false
}

// deny answers 401 with the API's JSON error shape and a challenge per
// accepted scheme. The Basic challenge is left out for requests marked
// X-Requested-With: XMLHttpRequest, because it makes browsers pop up their
// own login dialog over the dashboard's. bearerErr is the RFC 6750 error
// code for the Bearer challenge, if any.
func (g *guard) deny(w http.ResponseWriter, r *http.Request, message, bearerErr string) {
	bearer := `Bearer realm="vigil"`
	if bearerErr != "" {
		bearer += `, error="` + bearerErr + `"`
	}
	w.Header().Add("WWW-Authenticate", bearer)
	if len(g.users) > 0 && !strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		w.Header().Add("WWW-Authenticate", `Basic realm="vigil", charset="UTF-8"`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	// A write error means the client went away; nobody is left to tell.
	_ = json.NewEncoder(w).Encode(errorBody{Error: apiError{Code: "unauthorized", Message: message}})
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type errorBody struct {
	Error apiError `json:"error"`
}

// withoutAccessToken returns r with the access_token query parameter
// removed from URL and RequestURI, leaving r itself untouched.
func withoutAccessToken(r *http.Request) *http.Request {
	u := *r.URL
	q := u.Query()
	q.Del(accessTokenParam)
	u.RawQuery = q.Encode()
	r2 := r.WithContext(r.Context())
	r2.URL = &u
	r2.RequestURI = u.RequestURI()
	return r2
}
