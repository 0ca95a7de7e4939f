package statuspage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

//go:embed templates/page.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var pageTemplate = template.Must(template.ParseFS(templateFS, "templates/page.html"))

// ContentSecurityPolicy is the dashboard's: nothing but this origin, no
// inline script or style.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Store is what a status page reads.
type Store interface {
	StatusPageBySlug(ctx context.Context, slug string) (registry.StatusPage, error)
	StatusPageServices(ctx context.Context, id string) ([]registry.Service, error)
	// DailyUptime counts results per check and UTC day in [since, until).
	// The raw results answer it today; a rollup table can later.
	DailyUptime(ctx context.Context, ids []string, since, until time.Time) (map[string][]registry.DayUptime, error)
	// TransitionsOf returns the newest transitions of ids, newest first.
	TransitionsOf(ctx context.Context, ids []string, limit int) ([]check.Transition, error)
	Transitions(ctx context.Context, q registry.TransitionQuery) ([]check.Transition, error)
}

// LiveFunc serves a WebSocket that is sent only the events of the checks
// allow accepts (broadcast.Hub.ServeScoped, redacting error texts).
type LiveFunc func(w http.ResponseWriter, r *http.Request, allow func(checkID string) bool)

// Config configures a Handler.
type Config struct {
	Store Store
	// Authenticated reports whether the caller may see private pages.
	Authenticated func(*http.Request) bool
	// Live serves a page's feed; without it the page is static.
	Live   LiveFunc
	Now    func() time.Time
	Logger *zap.Logger
	// UptimeTTL is how long a page's daily uptime is reused before it is
	// read again; DefaultUptimeTTL when zero. The bars move once a day, and
	// a public page may be loaded by many people at once.
	UptimeTTL time.Duration
}

// DefaultUptimeTTL is Config.UptimeTTL's default.
const DefaultUptimeTTL = time.Minute

// maxCachedPages bounds the uptime cache; past it the cache starts over.
const maxCachedPages = 1024

// Handler serves status pages and their live feeds.
type Handler struct {
	cfg Config
	log *zap.Logger

	mu     sync.Mutex
	uptime map[string]cachedUptime
}

type cachedUptime struct {
	at    time.Time
	ids   string
	daily map[string][]registry.DayUptime
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Authenticated == nil {
		cfg.Authenticated = func(*http.Request) bool { return false }
	}
	if cfg.UptimeTTL <= 0 {
		cfg.UptimeTTL = DefaultUptimeTTL
	}
	return &Handler{cfg: cfg, log: cfg.Logger, uptime: map[string]cachedUptime{}}
}

// Register adds the page, its feed and its assets to mux:
// GET /status/{slug}, GET /ws/status/{slug} and GET /status-assets/{file}.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /status/{slug}", h.servePage)
	mux.HandleFunc("GET /ws/status/{slug}", h.serveLive)
	mux.HandleFunc("GET /status-assets/{file}", serveAsset)
}

// visible finds the page for r's slug and decides whether the caller may
// see it. Anyone else gets 401 with a Basic challenge, so a browser asks
// for the credentials of a configured user; a page that needs no script
// cannot send a bearer token.
func (h *Handler) visible(w http.ResponseWriter, r *http.Request) (registry.StatusPage, bool) {
	slug := r.PathValue("slug")
	if ValidateSlug(slug) != nil {
		notFound(w)
		return registry.StatusPage{}, false
	}
	p, err := h.cfg.Store.StatusPageBySlug(r.Context(), slug)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		notFound(w)
		return registry.StatusPage{}, false
	case err != nil:
		h.fail(w, r, err)
		return registry.StatusPage{}, false
	case !p.Public && !h.cfg.Authenticated(r):
		w.Header().Add("WWW-Authenticate", `Basic realm="vigil", charset="UTF-8"`)
		plain(w, http.StatusUnauthorized, "this status page is private: sign in to see it")
		return registry.StatusPage{}, false
	}
	return p, true
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	p, ok := h.visible(w, r)
	if !ok {
		return
	}
	d, err := h.read(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, buildView(d, h.cfg.Now(), "../status-assets")); err != nil {
		h.fail(w, r, fmt.Errorf("render status page: %w", err))
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	if p.Public {
		hdr.Set("Cache-Control", "public, max-age=30")
	} else {
		hdr.Set("Cache-Control", "private, no-store")
	}
	_, _ = w.Write(buf.Bytes())
}

// serveLive opens the page's feed, scoped to the services it shows when
// the feed opens. A service the page starts selecting later is picked up
// on the next reconnect, as is one it stops selecting.
func (h *Handler) serveLive(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Live == nil {
		notFound(w)
		return
	}
	p, ok := h.visible(w, r)
	if !ok {
		return
	}
	svcs, err := h.cfg.Store.StatusPageServices(r.Context(), p.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ids := make(map[string]struct{}, len(svcs))
	for _, sv := range svcs {
		ids[sv.ID] = struct{}{}
	}
	h.cfg.Live(w, r, func(id string) bool { _, ok := ids[id]; return ok })
}

func (h *Handler) read(ctx context.Context, p registry.StatusPage) (data, error) {
	d := data{page: p}
	var err error
	if d.services, err = h.cfg.Store.StatusPageServices(ctx, p.ID); err != nil {
		return data{}, err
	}
	ids := make([]string, len(d.services))
	for i, sv := range d.services {
		ids[i] = sv.ID
	}
	// The feed's resume point is read before the incidents, so a change
	// committed in between is replayed rather than lost.
	latest, err := h.cfg.Store.Transitions(ctx, registry.TransitionQuery{Newest: true, Limit: 1})
	if err != nil {
		return data{}, err
	}
	if len(latest) == 1 {
		d.since = latest[0].ID
	}
	if d.daily, err = h.dailyUptime(ctx, p.ID, ids); err != nil {
		return data{}, err
	}
	if d.incidents, err = h.cfg.Store.TransitionsOf(ctx, ids, MaxIncidents); err != nil {
		return data{}, err
	}
	return d, nil
}

// dailyUptime reads the bars of ids, reusing a read of the same page and
// services younger than UptimeTTL.
func (h *Handler) dailyUptime(ctx context.Context, pageID string, ids []string) (map[string][]registry.DayUptime, error) {
	now := h.cfg.Now()
	key := idsKey(ids)
	h.mu.Lock()
	c, ok := h.uptime[pageID]
	h.mu.Unlock()
	if ok && c.ids == key && now.Sub(c.at) < h.cfg.UptimeTTL && now.Sub(c.at) >= 0 {
		return c.daily, nil
	}
	first := firstDay(now)
	daily, err := h.cfg.Store.DailyUptime(ctx, ids, first, first.AddDate(0, 0, Days))
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if len(h.uptime) >= maxCachedPages {
		clear(h.uptime)
	}
	h.uptime[pageID] = cachedUptime{at: now, ids: key, daily: daily}
	h.mu.Unlock()
	return daily, nil
}

func idsKey(ids []string) string {
	sum := sha256.New()
	for _, id := range ids {
		sum.Write([]byte(id))
		sum.Write([]byte{0})
	}
	return hex.EncodeToString(sum.Sum(nil))
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	h.log.Error("status page failed", zap.String("path", r.URL.Path), zap.Error(err))
	plain(w, http.StatusInternalServerError, "internal error")
}

func notFound(w http.ResponseWriter) { plain(w, http.StatusNotFound, "no such status page") }

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
