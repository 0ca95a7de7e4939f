package browser

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/broadcast"
	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/dashboard"
)

// fakeVigil is the REST side of a Vigil in Kubernetes mode with
// authentication on: every read needs the bearer token and every write is
// refused as read-only. The WebSocket is the real hub.
type fakeVigil struct {
	token    string
	user     string
	password string
	hub      *broadcast.Hub

	// plain counts API requests without X-Requested-With, which would
	// let the server's Basic challenge pop up the browser's own dialog.
	plain atomic.Int32

	mu     sync.Mutex
	status string
	err    string
	change string
}

func (f *fakeVigil) authorized(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") != "XMLHttpRequest" {
		f.plain.Add(1)
	}
	if user, password, ok := r.BasicAuth(); ok {
		return user == f.user && password == f.password
	}
	return r.Header.Get("Authorization") == "Bearer "+f.token
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(code, message string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}

func (f *fakeVigil) service() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	latency := 12.5
	return map[string]any{
		"id": "svc-1", "name": "legacy-billing", "type": "http", "url": "http://billing.internal/healthz",
		"tags": []string{"team-billing"}, "paused": false, "status": f.status, "last_error": f.err,
		"last_checked_at": time.Now().UTC().Format(time.RFC3339), "last_latency_ms": latency,
		"last_change_at": f.change,
	}
}

func (f *fakeVigil) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", dashboard.Handler())
	mux.Handle("GET /ws", f.hub)
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !f.authorized(r) {
				writeJSON(w, http.StatusUnauthorized, apiError("unauthorized", "authentication required"))
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/v1/services", guard(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"items": []any{f.service()}})
	}))
	mux.HandleFunc("GET /api/v1/services/counts", guard(func(w http.ResponseWriter, _ *http.Request) {
		by := map[string]int{"UP": 0, "DOWN": 0, "UNKNOWN": 0, "PAUSED": 0}
		by[f.service()["status"].(string)]++
		writeJSON(w, http.StatusOK, map[string]any{"total": 1, "by_status": by, "last_transition_id": 0})
	}))
	mux.HandleFunc("GET /api/v1/services/svc-1", guard(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, f.service())
	}))
	mux.HandleFunc("GET /api/v1/services/svc-1/results", guard(func(w http.ResponseWriter, _ *http.Request) {
		now := time.Now().UTC()
		items := []map[string]any{}
		for i := range 5 {
			at := now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339)
			items = append(items, map[string]any{"status": "UP", "latency_ms": 10 + i, "checked_at": at, "scheduled_at": at})
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": nil})
	}))
	mux.HandleFunc("POST /api/v1/services/svc-1/pause", guard(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusForbidden, apiError("read_only", "services are managed as ServiceCheck resources in Kubernetes mode"))
	}))
	return mux
}

// TestDashboardLoginAndReadOnly covers what a compose Vigil without auth
// cannot show: the token form on 401, the token on the WebSocket URL, and
// the 403 of a read-only registry.
func TestDashboardLoginAndReadOnly(t *testing.T) {
	p := newPage(t)
	f := &fakeVigil{token: "s3cret-token", user: "ops", password: "pässwörd 1", status: "UP",
		change: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}
	f.hub = broadcast.New(broadcast.Config{
		Authorize: func(r *http.Request) bool { return r.URL.Query().Get("access_token") == f.token },
	})
	srv := httptest.NewServer(f.handler())
	t.Cleanup(func() {
		f.hub.Close()
		srv.Close()
	})

	visible := func(sel string) bool {
		v, err := eval[bool](p, `(() => { const e = document.querySelector(`+jsString(sel)+`); return !!e && e.offsetParent !== null; })()`)
		return err == nil && v
	}

	p.do(chromedp.Navigate(srv.URL + "/"))
	require.Eventually(t, func() bool { return visible("#login-form") }, 10*time.Second, 50*time.Millisecond, "a 401 asks for a token")
	require.False(t, visible("#services"), "no table without a token")
	require.Equal(t, "Signed out", p.text("#connection-text"))
	require.Zero(t, f.hub.Clients(), "no WebSocket without a token")
	p.screenshot("dashboard-login.png")

	signIn := func(user, secret string) {
		p.setValue("#user", user, "input")
		p.setValue("#secret", secret, "input")
		p.do(chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	}
	signIn("", "wrong")
	require.Eventually(t, func() bool { return strings.Contains(p.text("#login-message"), "not accepted") },
		10*time.Second, 50*time.Millisecond, "a wrong token is refused")
	require.True(t, visible("#login-form"))
	require.Empty(t, mustEval[string](p, `sessionStorage.getItem('vigil.auth') || ''`), "a refused credential is forgotten")

	// A user name and password sign in with HTTP basic authentication,
	// UTF-8 included.
	signIn(f.user, f.password)
	require.Eventually(t, func() bool { return len(p.rows()) == 1 }, 10*time.Second, 50*time.Millisecond,
		"a user name and password show the table")
	require.True(t, strings.HasPrefix(mustEval[string](p, `sessionStorage.getItem('vigil.auth')`), "Basic "))
	p.do(chromedp.Click(chromedp.CSS("#logout")))
	require.Eventually(t, func() bool { return visible("#login-form") }, 10*time.Second, 50*time.Millisecond)

	signIn("", f.token)
	require.Eventually(t, func() bool {
		rs := p.rows()
		return len(rs) == 1 && rs[0].Name == "legacy-billing" && rs[0].State == "UP"
	}, 10*time.Second, 50*time.Millisecond, "the right token shows the table")
	require.False(t, visible("#login-form"))
	require.True(t, visible("#logout"))
	require.Equal(t, "Bearer "+f.token, mustEval[string](p, `sessionStorage.getItem('vigil.auth')`))
	require.Eventually(t, func() bool { return f.hub.Clients() == 1 && p.attr("#connection", "data-state") == "live" },
		10*time.Second, 50*time.Millisecond, "the WebSocket authenticates with access_token")

	// A transition pushed by the hub updates the row in place.
	f.mu.Lock()
	f.status, f.err, f.change = "DOWN", "timeout after 2s", time.Now().UTC().Format(time.RFC3339)
	f.mu.Unlock()
	f.hub.Publish(check.Transition{ID: 7, CheckID: "svc-1", Service: "legacy-billing", From: check.StateUp,
		To: check.StateDown, At: time.Now(), Latency: 2 * time.Second, Error: "timeout after 2s"})
	require.Eventually(t, func() bool {
		r := p.rows()
		return len(r) == 1 && r[0].State == "DOWN" && r[0].Error == "timeout after 2s"
	}, 5*time.Second, 50*time.Millisecond)
	require.Contains(t, p.text("#announcer"), "legacy-billing is DOWN, was UP: timeout after 2s.")

	// Kubernetes mode: the registry is read-only, and the page says so and
	// stops offering writes.
	require.True(t, visible(".cell-actions button"))
	p.do(chromedp.Click(chromedp.CSS(".cell-actions button")))
	require.Eventually(t, func() bool { return strings.Contains(p.text("#banner"), "Read-only") },
		5*time.Second, 50*time.Millisecond, "a 403 shows the read-only notice")
	require.Contains(t, p.text("#banner"), "ServiceCheck resources")
	require.False(t, visible(".cell-actions button"), "no write buttons once the registry is known read-only")

	// The token lives for the tab: a reload needs no new sign-in.
	p.do(chromedp.Reload())
	require.Eventually(t, func() bool { return len(p.rows()) == 1 }, 10*time.Second, 50*time.Millisecond)
	require.False(t, visible("#login-form"))

	// Signing out forgets the token.
	p.do(chromedp.Click(chromedp.CSS("#logout")))
	require.Eventually(t, func() bool { return visible("#login-form") }, 10*time.Second, 50*time.Millisecond)
	require.Empty(t, mustEval[string](p, `sessionStorage.getItem('vigil.auth') || ''`))

	require.Zero(t, f.plain.Load(), "every API request carries X-Requested-With")
	p.requireNoProblems()
}
