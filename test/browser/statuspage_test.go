package browser

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/app"
)

// frames records the text of every WebSocket frame the page receives, as
// the browser's network layer saw it (before any script could filter).
type frames struct {
	mu  sync.Mutex
	got []string
}

func (f *frames) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func watchFrames(t *testing.T, p *page) *frames {
	t.Helper()
	f := &frames{}
	require.NoError(t, chromedp.Listen(p.ctx, func(ev any) {
		if e, ok := ev.(*network.EventWebSocketFrameReceived); ok && e.Response != nil {
			f.mu.Lock()
			f.got = append(f.got, string(e.Response.PayloadData))
			f.mu.Unlock()
		}
	}))
	return f
}

// statusRow is what a visitor sees of one service on a status page.
type statusRow struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
	Bars  int    `json:"bars"`
}

const statusRowsJS = `Array.from(document.querySelectorAll('.service')).map(li => ({
  id: li.dataset.id,
  name: li.querySelector('.name').textContent,
  state: li.querySelector('.state').textContent,
  bars: li.querySelectorAll('.bar').length,
}))`

// TestStatusPageLive opens a public status page of a real Vigil in
// headless Chromium: it lists only the services it selects, in the DOM and
// in every WebSocket frame it receives, a flip shows up without a reload,
// and badges render as images and parse as SVG.
func TestStatusPageLive(t *testing.T) {
	p := newPage(t)
	log := testLogger(t)
	cfg := baseConfig(t)
	web := start(t, "server", app.RunServer, cfg, log)
	start(t, "worker", app.RunWorker, cfg, log)
	base := "http://" + web.addr
	api := apiClient{t: t, base: base}

	payments, search, secret := newTarget(t), newTarget(t), newTarget(t)
	pay := api.register("payments <i>api</i>", payments.srv.URL, "team-payments")
	srch := api.register("search", search.srv.URL, "team-search")
	hidden := api.register("secret-admin", secret.srv.URL, "internal")
	api.call(http.MethodPost, "/api/v1/status-pages", map[string]any{
		"slug": "acme", "title": "Acme status", "tags": []string{"team-payments", "team-search"}, "public": true,
	}, http.StatusCreated, nil)
	require.Eventually(t, func() bool {
		// Every service the page shows must have its first result, or the
		// page rightly shows it UNKNOWN.
		return api.status(pay.ID) == "UP" && api.status(srch.ID) == "UP" && api.status(hidden.ID) == "UP"
	}, 30*time.Second, 100*time.Millisecond)

	ws := watchFrames(t, p)
	p.do(chromedp.Navigate(base + "/status/acme"))
	rows := mustEval[[]statusRow](p, statusRowsJS)
	require.Len(t, rows, 2)
	require.ElementsMatch(t, []string{"payments <i>api</i>", "search"}, []string{rows[0].Name, rows[1].Name},
		"names are text, never markup")
	for _, r := range rows {
		require.Equal(t, "UP", r.State)
		require.Equal(t, 90, r.Bars)
	}
	require.Zero(t, mustEval[int](p, `document.querySelectorAll('.service i').length`))
	require.NotContains(t, p.text("#incidents"), "payments", "a first verdict (UNKNOWN to UP) is not an incident")
	requireHidden(t, p, hidden)
	require.Eventually(t, func() bool { return p.attr("#live", "data-state") == "live" },
		15*time.Second, 50*time.Millisecond, "the page's feed connects")

	// The hidden service flips first: its event must never reach the page.
	mustEval[bool](p, `window.__sameDocument = true`)
	secret.set(http.StatusInternalServerError)
	require.Eventually(t, func() bool { return api.status(hidden.ID) == "DOWN" }, 15*time.Second, 50*time.Millisecond)
	payments.set(http.StatusInternalServerError)
	flipped := time.Now()
	require.Eventually(t, func() bool {
		for _, r := range mustEval[[]statusRow](p, statusRowsJS) {
			if r.ID == pay.ID {
				return r.State == "DOWN"
			}
		}
		return false
	}, 5*time.Second, 50*time.Millisecond, "the flip shows up in the open page")
	// Includes the probe interval (1 s) and failure detection, not only delivery.
	t.Logf("status page showed DOWN %v after the target failed", time.Since(flipped).Round(time.Millisecond))
	require.True(t, mustEval[bool](p, `window.__sameDocument === true`), "without a reload")
	require.Equal(t, "1 of 2 services down", p.text("#overall"))
	require.Contains(t, p.text("#incidents"), "payments <i>api</i>")
	requireHidden(t, p, hidden)

	got := ws.all()
	require.NotEmpty(t, got)
	sawPay := false
	for _, f := range got {
		require.NotContains(t, f, hidden.ID, "a frame about a service the page does not select")
		require.NotContains(t, f, "secret-admin")
		require.NotContains(t, f, `"error"`, "error texts stay off the public feed")
		sawPay = sawPay || strings.Contains(f, pay.ID)
	}
	require.True(t, sawPay, "the page's own flip came over the WebSocket: %v", got)

	p.screenshot("statuspage.png")
	p.prefersDark(true)
	p.screenshot("statuspage-dark.png")
	p.prefersDark(false)
	p.do(chromedp.EmulateViewport(390, 844))
	p.screenshot("statuspage-mobile.png")

	requireBadges(t, p, base, pay.ID)
	p.requireNoProblems()
}

// requireHidden checks that nothing of the hidden service is in the DOM.
func requireHidden(t *testing.T, p *page, hidden service) {
	t.Helper()
	html := mustEval[string](p, `document.documentElement.outerHTML`)
	require.NotContains(t, html, hidden.ID)
	require.NotContains(t, html, hidden.Name)
}

// requireBadges loads each badge as an image in the page (which its CSP
// allows: same origin) and parses the same bytes as XML.
func requireBadges(t *testing.T, p *page, base, id string) {
	t.Helper()
	for _, kind := range []string{"status.svg", "uptime.svg?window=7d", "latency.svg"} {
		src := "/badges/" + id + "/" + kind
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`new Promise((resolve) => {
  const img = new Image();
  img.onload = () => resolve(img.naturalWidth);
  img.onerror = () => resolve(-1);
  img.src = `+jsString(src)+`;
  document.body.append(img);
})`, chromedp.EvalAwaitPromise))
		cancel()
		require.NoError(t, err)
		require.Positive(t, w, "%s renders as an image", kind)

		res, err := http.Get(base + src)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Contains(t, res.Header.Get("Cache-Control"), "max-age=")
		require.NotEmpty(t, res.Header.Get("ETag"))
		dec := xml.NewDecoder(bytes.NewReader(body))
		root := ""
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, "%s is well-formed XML: %s", kind, body)
			if se, ok := tok.(xml.StartElement); ok && root == "" {
				root = se.Name.Local
			}
		}
		require.Equal(t, "svg", root)
	}
}
