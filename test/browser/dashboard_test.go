package browser

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/app"
)

// TestDashboardLive drives the dashboard of a real Vigil: a scheduler
// server, a worker, and a second server the browser talks to (restarted
// mid-test), all on the real PostgreSQL and RabbitMQ.
func TestDashboardLive(t *testing.T) {
	dashboardScenario(t, app.RunServer, app.RunWorker)
}

func dashboardScenario(t *testing.T, runServer, runWorker runFunc) {
	p := newPage(t) // first, so the browser closes after the servers stop
	log := testLogger(t)
	cfg := baseConfig(t)

	// The scheduler runs in a server the browser never sees, so probing
	// goes on while the browser's server is down for its restart.
	schedCfg := cfg
	sched := start(t, "scheduler", runServer, schedCfg, log)
	start(t, "worker", runWorker, cfg, log)
	webCfg := cfg
	webCfg.Scheduler = false
	web := start(t, "web", runServer, webCfg, log)
	base := "http://" + web.addr
	requireServesDashboard(t, base)

	payments, search, checkout := newTarget(t), newTarget(t), newTarget(t)
	api := apiClient{t: t, base: base}
	pay := api.register("payments-api", payments.srv.URL, "team-payments", "prod")
	api.register("search", search.srv.URL, "team-search", "prod")
	api.register("checkout <b>&amp;</b>", checkout.srv.URL, "team-payments", "staging")

	p.do(chromedp.Navigate(base + "/"))
	want := []string{"checkout <b>&amp;</b>", "payments-api", "search"}
	require.Eventually(t, func() bool {
		rs := p.rows()
		if len(rs) != 3 {
			return false
		}
		for _, r := range rs {
			if r.State != "UP" || r.Badge != "UP" {
				return false
			}
		}
		return true
	}, 30*time.Second, 100*time.Millisecond, "the table lists the three services UP; saw %+v", p.rows())
	rs := p.rows()
	require.ElementsMatch(t, want, names(rs), "names are shown as text, never as markup")
	require.Zero(t, mustEval[int](p, `document.querySelectorAll('#rows b').length`), "no markup from server strings")
	got := byName(rs)
	require.Equal(t, []string{"team-payments", "prod"}, got["payments-api"].Tags)
	require.Regexp(t, `^\d+(\.\d+)? ms$`, got["payments-api"].Latency)
	require.Equal(t, "3", p.text(`.chip-count[data-count="UP"]`))

	require.Eventually(t, func() bool { return p.attr("#connection", "data-state") == "live" },
		15*time.Second, 100*time.Millisecond, "the WebSocket connects")
	require.Equal(t, "Live", p.text("#connection-text"))

	// A target turns unhealthy: its row goes DOWN from the WebSocket event,
	// with no reload (the marker would not survive one) and well before the
	// 10 s list refresh.
	mustEval[bool](p, `window.__sameDocument = true`)
	payments.set(http.StatusInternalServerError)
	flipped := time.Now()
	require.Eventually(t, func() bool {
		r := byName(p.rows())["payments-api"]
		return r.State == "DOWN" && r.Badge == "DOWN"
	}, 3*time.Second, 50*time.Millisecond, "the payments row turns DOWN within 3 s")
	t.Logf("row turned DOWN %v after the target failed", time.Since(flipped).Round(time.Millisecond))
	require.True(t, mustEval[bool](p, `window.__sameDocument === true`), "the page did not reload")
	require.Contains(t, p.text("#announcer"), "payments-api is DOWN, was UP", "screen readers hear about it")
	require.Equal(t, "1", p.text(`.chip-count[data-count="DOWN"]`))
	require.Equal(t, "(1 down) Vigil", mustEval[string](p, `document.title`))
	require.Eventually(t, func() bool {
		return strings.Contains(byName(p.rows())["payments-api"].Error, "500")
	}, 5*time.Second, 100*time.Millisecond, "the refetched details show the probe error")
	down, up := byName(p.rows())["payments-api"].Color, byName(p.rows())["search"].Color
	require.NotEqual(t, down, up, "state is shown in colour as well as text")

	// Filters: search, state and tag narrow the table, and the URL keeps them.
	p.do(chromedp.SendKeys(chromedp.CSS("#search"), "PAY"))
	require.Eventually(t, func() bool { return equal(names(p.rows()), "payments-api") }, 5*time.Second, 50*time.Millisecond)
	require.Contains(t, mustEval[string](p, `location.search`), "q=PAY")
	p.setValue("#search", "", "input")
	p.do(chromedp.Click(chromedp.CSS(`.chip[data-state="DOWN"]`)))
	require.Eventually(t, func() bool { return equal(names(p.rows()), "payments-api") }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, "true", p.attr(`.chip[data-state="DOWN"]`, "aria-pressed"))
	p.do(chromedp.Click(chromedp.CSS(`.chip[data-state=""]`)))
	p.setValue("#tag-filter", "staging", "change")
	require.Eventually(t, func() bool { return equal(names(p.rows()), "checkout <b>&amp;</b>") }, 5*time.Second, 50*time.Millisecond)
	require.Contains(t, p.text("#table-status"), "Showing 1 of 3")
	p.setValue("#tag-filter", "", "change")
	require.Eventually(t, func() bool { return len(p.rows()) == 3 }, 5*time.Second, 50*time.Millisecond)

	// Sparklines fill in from the results history. The page fetches a
	// row's history when the row is drawn and again when its check changes
	// state (steady results are not broadcast, so an idle page costs
	// nothing), so how many points a steady row shows depends on when it
	// was drawn: at least the one that made its check UP or DOWN.
	require.Eventually(t, func() bool {
		for _, r := range p.rows() {
			if r.Spark < 1 {
				return false
			}
		}
		return true
	}, 30*time.Second, 200*time.Millisecond, "every row has a latency sparkline; saw %+v", p.rows())

	p.screenshot("dashboard.png")
	p.prefersDark(true)
	p.screenshot("dashboard-dark.png")
	p.prefersDark(false)

	// The browser's server restarts. Meanwhile the target recovers, so the
	// transition back to UP happens while no server could push it: the page
	// must reconnect and get it by resuming from its last event id.
	web.stop(t)
	require.Eventually(t, func() bool { return p.attr("#connection", "data-state") == "offline" },
		15*time.Second, 50*time.Millisecond, "the indicator shows the lost connection")
	require.Contains(t, p.text("#connection-text"), "Offline")
	payments.set(http.StatusOK)
	schedAPI := apiClient{t: t, base: "http://" + sched.addr}
	require.Eventually(t, func() bool { return schedAPI.status(pay.ID) == "UP" },
		15*time.Second, 100*time.Millisecond, "payments recovers while the web server is down")
	require.Equal(t, "DOWN", byName(p.rows())["payments-api"].State, "nothing told the page yet")

	webCfg.HTTPAddr = web.addr // same address, as after a real restart
	start(t, "web-restarted", runServer, webCfg, log)
	require.Eventually(t, func() bool {
		return p.attr("#connection", "data-state") == "live" && byName(p.rows())["payments-api"].State == "UP"
	}, 45*time.Second, 100*time.Millisecond, "the page reconnects and shows the recovery")
	require.Eventually(t, func() bool {
		return strings.Contains(p.text("#announcer"), "payments-api is UP, was DOWN")
	}, 10*time.Second, 100*time.Millisecond, "the missed transition was replayed over the WebSocket")
	require.True(t, mustEval[bool](p, `window.__sameDocument === true`), "still no reload")

	// The same page on a phone-sized screen.
	p.do(chromedp.EmulateViewport(390, 844))
	require.Eventually(t, func() bool { return len(p.rows()) == 3 }, 5*time.Second, 50*time.Millisecond)
	p.screenshot("dashboard-mobile.png")

	p.requireNoProblems()
}

func equal(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
