package badge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Store is what badges read.
type Store interface {
	GetService(ctx context.Context, id string) (registry.Service, error)
	Uptime(ctx context.Context, checkID string, since, until time.Time) (registry.Uptime, error)
	// OnPublicStatusPage reports whether a public status page shows the
	// service.
	OnPublicStatusPage(ctx context.Context, checkID string) (bool, error)
}

// Config configures a Handler.
type Config struct {
	Store Store
	// Authenticated reports whether the caller may see every service.
	Authenticated func(*http.Request) bool
	Now           func() time.Time
	Logger        *zap.Logger
}

// Cache policies. A badge may be cached for a minute: short, so a flip
// shows within a minute, yet long enough that a popular README does not
// query the database on every view. A badge only an authenticated caller
// may see must stay out of shared caches.
const (
	cachePublic  = "public, max-age=60"
	cachePrivate = "private, max-age=60"
)

// DefaultWindow and MaxWindow bound the uptime badge's window.
const (
	DefaultWindow = 7 * 24 * time.Hour
	MaxWindow     = 90 * 24 * time.Hour
)

// Handler serves GET /badges/{id}/status.svg, uptime.svg and latency.svg.
//
// Visibility: a badge is served to anyone when a public status page shows
// its service, since the page already shows the same facts; otherwise
// only to authenticated callers. Anyone else gets 404, the same answer as
// for an id that does not exist, so badges cannot be used to probe which
// ids exist.
type Handler struct {
	cfg Config
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
	return &Handler{cfg: cfg}
}

// Register adds the badge routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /badges/{id}/{kind}", h.serve)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	id, kind := r.PathValue("id"), r.PathValue("kind")
	if kind != "status.svg" && kind != "uptime.svg" && kind != "latency.svg" || check.HasControl(id) || len(id) > 128 {
		notFound(w)
		return
	}
	window, label, ok := parseWindow(r.URL.Query().Get("window"))
	if !ok {
		plain(w, http.StatusBadRequest, windowMessage)
		return
	}
	public, err := h.cfg.Store.OnPublicStatusPage(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !public && !h.cfg.Authenticated(r) {
		notFound(w)
		return
	}
	svc, err := h.cfg.Store.GetService(r.Context(), id)
	if errors.Is(err, registry.ErrNotFound) {
		notFound(w)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var b Badge
	switch kind {
	case "status.svg":
		b = statusBadge(svc)
	case "latency.svg":
		b = latencyBadge(svc)
	default:
		now := h.cfg.Now()
		u, err := h.cfg.Store.Uptime(r.Context(), id, now.Add(-window), now)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		b = uptimeBadge(svc, u, label)
	}
	cache := cachePublic
	if !public {
		cache = cachePrivate
	}
	writeSVG(w, r, b.SVG(), cache)
}

func statusBadge(svc registry.Service) Badge {
	st := svc.State.State
	color := map[check.State]string{check.StateUp: ColorUp, check.StateDown: ColorDown, check.StatePaused: ColorPaused}[st]
	return Badge{Label: "status", Message: string(st), Color: color, Title: svc.Name + ": " + string(st)}
}

func latencyBadge(svc registry.Service) Badge {
	if svc.State.LastCheckedAt.IsZero() {
		return Badge{Label: "latency", Message: "no data", Color: ColorUnknown, Title: svc.Name + ": no latency yet"}
	}
	ms := float64(svc.State.LastLatency.Microseconds()) / 1000
	msg := strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	if ms < 10 {
		msg = strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	color := ColorUp
	switch {
	case ms >= 1000:
		color = ColorDown
	case ms >= 300:
		color = ColorWarn
	}
	return Badge{Label: "latency", Message: msg, Color: color, Title: svc.Name + ": last probe took " + msg}
}

func uptimeBadge(svc registry.Service, u registry.Uptime, window string) Badge {
	label := "uptime " + window
	if u.Checks == 0 {
		return Badge{Label: label, Message: "no data", Color: ColorUnknown, Title: svc.Name + ": no results in " + window}
	}
	ratio := float64(u.Checks-u.Failures) / float64(u.Checks)
	msg := strconv.FormatFloat(ratio*100, 'f', 2, 64) + "%"
	color := ColorDown
	switch {
	case ratio >= 0.999:
		color = ColorUp
	case ratio >= 0.95:
		color = ColorWarn
	}
	return Badge{Label: label, Message: msg, Color: color, Title: svc.Name + ": " + msg + " uptime over " + window}
}

// windowMessage answers a window parseWindow refuses.
const windowMessage = `window: must be a positive duration such as "24h" or "7d", at most 90d`

// parseWindow reads ?window=: "Nd" days or a Go duration, from a minute
// to MaxWindow. It returns the window and its label, and false for
// anything else.
func parseWindow(raw string) (time.Duration, string, bool) {
	if raw == "" {
		return DefaultWindow, "7d", true
	}
	if days, ok := strings.CutSuffix(raw, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 90 || strings.HasPrefix(days, "+") {
			return 0, "", false
		}
		return time.Duration(n) * 24 * time.Hour, strconv.Itoa(n) + "d", true
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < time.Minute || d > MaxWindow {
		return 0, "", false
	}
	s := strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
	return d, s, true
}

// writeSVG answers with the badge, an ETag of its bytes and the cache
// policy; a matching If-None-Match gets 304.
func writeSVG(w http.ResponseWriter, r *http.Request, svg []byte, cache string) {
	sum := sha256.Sum256(svg)
	hdr := w.Header()
	hdr.Set("Content-Type", "image/svg+xml; charset=utf-8")
	hdr.Set("Cache-Control", cache)
	hdr.Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	hdr.Set("X-Content-Type-Options", "nosniff")
	// An SVG opened on its own is a document: let it run nothing.
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(svg))
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	h.cfg.Logger.Error("badge failed", zap.String("path", r.URL.Path), zap.Error(err))
	plain(w, http.StatusInternalServerError, "internal error")
}

func notFound(w http.ResponseWriter) { plain(w, http.StatusNotFound, "no such badge") }

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
