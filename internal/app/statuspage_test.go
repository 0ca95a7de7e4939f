package app_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/auth"
)

const pageToken = "status-page-test-token-1"

// authed is an HTTP caller with (token != "") or without a credential.
type authed struct {
	t     *testing.T
	base  string
	token string
}

func (a authed) do(method, path string, body any) (int, http.Header, []byte) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(a.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	require.NoError(a.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, resp.Header, out
}

func (a authed) json(method, path string, body any, want int) map[string]any {
	a.t.Helper()
	code, _, raw := a.do(method, path, body)
	require.Equal(a.t, want, code, "%s %s: %s", method, path, raw)
	var m map[string]any
	if len(raw) > 0 {
		require.NoError(a.t, json.Unmarshal(raw, &m))
	}
	return m
}

// feed opens a WebSocket at path and returns its events' raw frames.
func (a authed) feed(path string) <-chan map[string]any {
	a.t.Helper()
	h := http.Header{}
	if a.token != "" {
		h.Set("Authorization", "Bearer "+a.token)
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.base, "http")+path, h)
	require.NoError(a.t, err)
	_ = resp.Body.Close()
	a.t.Cleanup(func() { _ = c.Close() })
	out := make(chan map[string]any, 100)
	go func() {
		defer close(out)
		for {
			var m map[string]any
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			out <- m
		}
	}()
	return out
}

func nextFrame(t *testing.T, ch <-chan map[string]any) map[string]any {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "feed closed")
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20s")
		return nil
	}
}

// The whole public face against the real PostgreSQL and RabbitMQ: the
// status-pages REST resource, a page that shows only what it selects and
// whose feed carries nothing else, private pages, and badges with their
// visibility and caching.
func TestStatusPagesAndBadges(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	s := startWith(t, cfg, zaptest.NewLogger(t), app.Hooks{Auth: &auth.Config{Tokens: []string{pageToken}, ProtectReads: true}})
	api := authed{t: t, base: s.api, token: pageToken}
	anon := authed{t: t, base: s.api}

	paySrv, payDown := target(t)
	searchSrv, _ := target(t)
	secretSrv, secretDown := target(t)
	reg := func(name, url string, tags ...string) string {
		return api.json(http.MethodPost, "/api/v1/services", map[string]any{
			"name": name, "url": url, "interval_seconds": 1, "timeout_seconds": 0.5, "tags": tags}, http.StatusCreated)["id"].(string)
	}
	pay := reg("payments <b>", paySrv.URL, "team-pay")
	search := reg("search", searchSrv.URL, "team-search")
	secret := reg("secret-admin", secretSrv.URL, "internal")

	// REST.
	page := api.json(http.MethodPost, "/api/v1/status-pages", map[string]any{
		"slug": "acme", "title": "Acme <script>", "tags": []string{"team-pay", "team-search"}, "public": true}, http.StatusCreated)
	require.Equal(t, "/status/acme", page["url"])
	require.Equal(t, "api", page["source"])
	bad := api.json(http.MethodPost, "/api/v1/status-pages", map[string]any{"slug": "Not_A_Label", "title": "x", "tags": []string{"a"}}, http.StatusBadRequest)
	require.Equal(t, "slug", bad["error"].(map[string]any)["field"])
	api.json(http.MethodPost, "/api/v1/status-pages", map[string]any{"slug": "acme", "title": "x", "tags": []string{"a"}}, http.StatusConflict)
	anon.json(http.MethodPost, "/api/v1/status-pages", map[string]any{"slug": "b", "title": "x", "tags": []string{"a"}}, http.StatusUnauthorized)
	private := api.json(http.MethodPost, "/api/v1/status-pages", map[string]any{
		"slug": "internal", "title": "Internal", "tags": []string{"internal"}}, http.StatusCreated)
	require.Equal(t, false, private["public"])
	list := api.json(http.MethodGet, "/api/v1/status-pages", nil, http.StatusOK)
	require.Len(t, list["items"], 2)
	patched := api.json(http.MethodPatch, "/api/v1/status-pages/"+private["id"].(string), map[string]any{"title": "Internal ops"}, http.StatusOK)
	require.Equal(t, "Internal ops", patched["title"])
	require.Equal(t, []any{"internal"}, patched["tags"], "PATCH keeps what it does not name")

	// Wait for every service to be UP so that flips are transitions.
	require.Eventually(t, func() bool {
		for _, id := range []string{pay, search, secret} {
			if api.json(http.MethodGet, "/api/v1/services/"+id, nil, http.StatusOK)["status"] != "UP" {
				return false
			}
		}
		return true
	}, 30*time.Second, 200*time.Millisecond)

	// The page, anonymously: only what it selects, escaped, under the CSP.
	code, hdr, body := anon.do(http.MethodGet, "/status/acme", nil)
	require.Equal(t, http.StatusOK, code)
	html := string(body)
	require.Contains(t, hdr.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, html, "payments &lt;b&gt;")
	require.Contains(t, html, "Acme &lt;script&gt;")
	require.NotContains(t, html, "<b>")
	require.Contains(t, html, `data-id="`+pay+`"`)
	require.Contains(t, html, `data-id="`+search+`"`)
	require.NotContains(t, html, secret)
	require.NotContains(t, html, "secret-admin")
	require.NotContains(t, html, paySrv.URL, "probe URLs stay private")
	require.Equal(t, 2*90, strings.Count(html, `class="bar bar-`), "90 daily bars per service")
	require.Contains(t, html, "All systems operational")

	code, _, _ = anon.do(http.MethodGet, "/status/internal", nil)
	require.Equal(t, http.StatusUnauthorized, code, "a private page needs a credential")
	code, _, body = api.do(http.MethodGet, "/status/internal", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "secret-admin")
	code, _, _ = anon.do(http.MethodGet, "/status/nope", nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _, _ = anon.do(http.MethodGet, "/status-assets/status.js", nil)
	require.Equal(t, http.StatusOK, code)

	// The page's feed carries only its services' events, without errors.
	all := api.feed("/ws")
	pageFeed := anon.feed("/ws/status/acme")
	secretDown.Store(true)
	for {
		if ev := nextFrame(t, all); ev["service_id"] == secret && ev["to"] == "DOWN" {
			break
		}
	}
	payDown.Store(true)
	ev := nextFrame(t, pageFeed)
	require.Equal(t, pay, ev["service_id"], "the secret service's flip never reaches the page: %v", ev)
	require.Equal(t, "DOWN", ev["to"])
	require.NotContains(t, ev, "error", "error texts stay off public feeds")
	_, _, body = anon.do(http.MethodGet, "/status/acme", nil)
	require.Contains(t, string(body), "1 of 2 services down")

	code, _, _ = anon.do(http.MethodGet, "/ws/status/internal", nil)
	require.Equal(t, http.StatusUnauthorized, code, "nor may anyone follow a private page")

	badges(t, anon, api, pay, secret)
}

func badges(t *testing.T, anon, api authed, pay, secret string) {
	for _, path := range []string{"/status.svg", "/uptime.svg?window=7d", "/latency.svg", "/uptime.svg"} {
		code, hdr, body := anon.do(http.MethodGet, "/badges/"+pay+path, nil)
		require.Equal(t, http.StatusOK, code, path)
		require.Equal(t, "image/svg+xml; charset=utf-8", hdr.Get("Content-Type"))
		require.Equal(t, "public, max-age=60", hdr.Get("Cache-Control"))
		require.NotEmpty(t, hdr.Get("ETag"))
		requireSVG(t, body)
		require.Contains(t, string(body), "payments &lt;b&gt;", "the title is escaped")
	}
	_, hdr, body := anon.do(http.MethodGet, "/badges/"+pay+"/status.svg", nil)
	require.Contains(t, string(body), ">DOWN<")
	req, _ := http.NewRequest(http.MethodGet, anon.base+"/badges/"+pay+"/status.svg", nil)
	req.Header.Set("If-None-Match", hdr.Get("ETag"))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNotModified, resp.StatusCode)

	code, _, _ := anon.do(http.MethodGet, "/badges/"+secret+"/status.svg", nil)
	require.Equal(t, http.StatusNotFound, code, "a service on no public page has no public badge")
	code, hdr, _ = api.do(http.MethodGet, "/badges/"+secret+"/status.svg", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "private, max-age=60", hdr.Get("Cache-Control"))
	code, _, body = anon.do(http.MethodGet, "/badges/"+pay+"/uptime.svg?window=forever", nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "window")
	code, _, _ = anon.do(http.MethodGet, "/badges/"+pay+"/other.svg", nil)
	require.Equal(t, http.StatusNotFound, code)
}

// requireSVG parses body as XML whose root is an svg element.
func requireSVG(t *testing.T, body []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(body))
	var root *xml.StartElement
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "badge is well-formed XML: %s", body)
		if se, ok := tok.(xml.StartElement); ok && root == nil {
			root = &se
		}
	}
	require.NotNil(t, root)
	require.Equal(t, "svg", root.Name.Local)
	require.Equal(t, "http://www.w3.org/2000/svg", root.Name.Space)
}
