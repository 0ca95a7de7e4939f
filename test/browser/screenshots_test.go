package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/app"
)

// maxScreenshotBytes keeps the committed pictures small enough for the
// repository.
const maxScreenshotBytes = 300 << 10

// TestScreenshots writes the pictures of the dashboard and a status page
// (light, dark and phone-sized) that docs and README link to, into
// testdata/artifacts/screenshots/, where they are committed:
//
//	VIGIL_SCREENSHOTS=1 go test -run TestScreenshots -v ./test/browser/
//
// Without VIGIL_SCREENSHOTS it is skipped, so `make test` never rewrites
// tracked files (the live tests take their own screenshots into the
// ignored testdata/artifacts/).
func TestScreenshots(t *testing.T) {
	if os.Getenv("VIGIL_SCREENSHOTS") == "" {
		t.Skip("set VIGIL_SCREENSHOTS=1 to rewrite testdata/artifacts/screenshots/")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "artifacts", "screenshots"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))

	p := newPage(t)
	log := testLogger(t)
	cfg := baseConfig(t)
	web := start(t, "server", app.RunServer, cfg, log)
	start(t, "worker", app.RunWorker, cfg, log)
	base := "http://" + web.addr
	api := apiClient{t: t, base: base}
	requireServesDashboard(t, base)

	// A small, plausible fleet: mostly healthy, one failing, one paused.
	fleet := []struct {
		name string
		tags []string
		fail bool
	}{
		{"checkout", []string{"team-payments", "prod"}, false},
		{"inventory", []string{"team-catalog", "prod"}, false},
		{"payments-api", []string{"team-payments", "prod"}, true},
		{"recommendations", []string{"team-catalog", "staging"}, false},
		{"search", []string{"team-catalog", "prod"}, false},
		{"shipping-quotes", []string{"team-payments", "staging"}, false},
	}
	ids := map[string]string{}
	for _, s := range fleet {
		tg := newTarget(t)
		if s.fail {
			tg.set(http.StatusServiceUnavailable)
		}
		ids[s.name] = api.register(s.name, tg.srv.URL, s.tags...).ID
	}
	paused := api.register("legacy-reports", newTarget(t).srv.URL, "team-catalog").ID
	api.call(http.MethodPost, "/api/v1/services/"+paused+"/pause", nil, http.StatusOK, nil)
	api.call(http.MethodPost, "/api/v1/status-pages", map[string]any{
		"slug": "acme", "title": "Acme status", "tags": []string{"team-payments", "team-catalog"}, "public": true,
	}, http.StatusCreated, nil)
	require.Eventually(t, func() bool {
		for _, s := range fleet {
			want := "UP"
			if s.fail {
				want = "DOWN"
			}
			if api.status(ids[s.name]) != want {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "every service has its first result")
	// Enough history for the sparklines and the status page's bars to
	// have a shape.
	require.Eventually(t, func() bool {
		for _, id := range ids {
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			api.call(http.MethodGet, "/api/v1/services/"+id+"/results?limit=12", nil, http.StatusOK, &page)
			if len(page.Items) < 12 {
				return false
			}
		}
		return true
	}, 60*time.Second, 500*time.Millisecond, "every service has a dozen results")

	shoot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
		defer cancel()
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		img, err := png.Decode(bytes.NewReader(b))
		require.NoError(t, err, "%s is a PNG", name)
		require.Positive(t, img.Bounds().Dx())
		require.Less(t, len(b), maxScreenshotBytes, "%s stays small", name)
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		t.Logf("screenshot: %s (%d KiB, %dx%d)", path, len(b)>>10, img.Bounds().Dx(), img.Bounds().Dy())
	}
	// Each scene is shot light, dark, then on a phone; the viewport is
	// reset between pages.
	desktop := func() { p.do(chromedp.EmulateViewport(1280, 800)) }
	phone := func() { p.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)) }

	desktop()
	p.prefersDark(false)
	p.do(chromedp.Navigate(base + "/"))
	ready := func() bool {
		rs := p.rows()
		if len(rs) != len(fleet)+1 || p.attr("#connection", "data-state") != "live" {
			return false
		}
		for _, r := range rs {
			if r.State != "PAUSED" && r.Spark < 1 {
				return false
			}
		}
		return true
	}
	require.Eventually(t, ready, 60*time.Second, 200*time.Millisecond, "rows, sparklines and the live feed; saw %+v", p.rows())
	shoot("dashboard-light.png")
	p.prefersDark(true)
	shoot("dashboard-dark.png")
	p.prefersDark(false)
	phone()
	p.do(chromedp.Reload())
	require.Eventually(t, ready, 60*time.Second, 200*time.Millisecond, "the phone layout loads")
	shoot("dashboard-mobile.png")

	desktop()
	p.do(chromedp.Navigate(base + "/status/acme"))
	statusReady := func() bool {
		rows, err := eval[[]statusRow](p, statusRowsJS)
		return err == nil && len(rows) > 0 && p.attr("#live", "data-state") == "live"
	}
	require.Eventually(t, statusReady, 30*time.Second, 100*time.Millisecond, "the status page is live")
	shoot("statuspage-light.png")
	p.prefersDark(true)
	shoot("statuspage-dark.png")
	p.prefersDark(false)
	phone()
	p.do(chromedp.Reload())
	require.Eventually(t, statusReady, 30*time.Second, 100*time.Millisecond, "the phone layout loads")
	shoot("statuspage-mobile.png")

	p.requireNoProblems()
}
