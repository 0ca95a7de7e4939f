package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/config"
)

// seedSQL registers $1 services straight in SQL (a CreateService each
// would take minutes at 50,000): svc-000001 … with one of 20 team tags,
// mostly UP with some DOWN, UNKNOWN and PAUSED. They are never scheduled,
// so they cost the test's probing nothing; the live transitions come from
// real services whose names sort first.
const seedSQL = `WITH ins AS (
	INSERT INTO services (id, name, type, url, method, expected_status, interval_ms, timeout_ms,
		failure_threshold, success_threshold, tags, paused, created_at, updated_at)
	SELECT 'seed' || lpad(g::text, 7, '0'), 'svc-' || lpad(g::text, 6, '0'), 'http',
		'http://10.0.' || (g % 250) || '.' || (g % 200) || ':8080/healthz', 'GET', 200, 10000, 5000, 3, 1,
		ARRAY['team-' || (g % 20), CASE WHEN g % 3 = 0 THEN 'staging' ELSE 'prod' END], g % 97 = 0, now(), now()
	FROM generate_series(1, $1::int) g
	RETURNING id, paused, (substr(id, 5))::int AS g)
INSERT INTO check_state (check_id, state, last_checked_at, last_latency_us, last_change_at)
SELECT id, CASE WHEN paused THEN 'PAUSED' WHEN g % 50 = 0 THEN 'DOWN' WHEN g % 31 = 0 THEN 'UNKNOWN' ELSE 'UP' END,
	now(), 1000 + g % 5000, now() - make_interval(mins => g % 1440)
FROM ins`

func seed(t *testing.T, databaseURL string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, databaseURL)
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	_, err = conn.Exec(ctx, seedSQL, n)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `ANALYZE services; ANALYZE check_state`)
	require.NoError(t, err)
}

// scaleServer is a compose Vigil (server with scheduler, and a worker)
// holding n seeded services.
func scaleServer(t *testing.T, n int) (base string, cfg config.Config) {
	t.Helper()
	log := testLogger(t)
	cfg = baseConfig(t)
	web := start(t, "server", app.RunServer, cfg, log)
	start(t, "worker", app.RunWorker, cfg, log)
	seed(t, cfg.DatabaseURL, n)
	base = "http://" + web.addr
	requireServesDashboard(t, base)
	return base, cfg
}

// domRows counts the table rows in the DOM, which virtual scrolling keeps
// to about a screenful whatever the number of services loaded.
const domRows = `document.querySelectorAll('#rows tr').length`

// TestDashboardPagesAndSearches drives the dashboard over a registry
// larger than a page: rows load page by page as the view scrolls, only
// the rows in view exist, search and filters run on the server, a flip
// arrives over the WebSocket without a reload, and a service's page shows
// its history and chart.
func TestDashboardPagesAndSearches(t *testing.T) {
	p := newPage(t)
	const seeded = 1500
	base, _ := scaleServer(t, seeded)
	api := apiClient{t: t, base: base}
	tg := newTarget(t)
	flip := api.register("aaa-flip", tg.srv.URL, "team-flip")

	p.do(chromedp.Navigate(base + "/"))
	require.Eventually(t, func() bool {
		rs := p.rows()
		return len(rs) > 5 && rs[0].Name == "aaa-flip" && rs[0].State == "UP"
	}, 30*time.Second, 100*time.Millisecond, "the first rows, in name order, with the live service UP")
	require.Equal(t, "1,501", p.text(`.chip-count[data-count=""]`), "the total comes from the server")
	require.Equal(t, "30", p.text(`.chip-count[data-count="DOWN"]`), "seeded DOWN: every 50th")
	require.Contains(t, p.text("#table-status"), "Showing the first 200 of 1,501")
	require.Less(t, mustEval[int](p, domRows), 60, "only the rows in view are in the DOM")
	p.screenshot("dashboard-paged.png")

	// Scrolling to the end loads the remaining pages, never more rows in the DOM.
	require.Eventually(t, func() bool {
		mustEval[bool](p, `window.scrollTo(0, document.body.scrollHeight), true`)
		rs := p.rows()
		return len(rs) > 0 && rs[len(rs)-1].Name == "svc-001500"
	}, 60*time.Second, 200*time.Millisecond, "scrolling reaches the last service")
	require.Contains(t, p.text("#table-status"), "1,501 services")
	require.Less(t, mustEval[int](p, domRows), 60)

	// Search runs on the server: any case, and it finds rows not loaded before.
	mustEval[bool](p, `window.scrollTo(0, 0), true`)
	p.do(chromedp.SendKeys(chromedp.CSS("#search"), "SVC-00123"))
	require.Eventually(t, func() bool {
		return equal(names(p.rows()), "svc-001230", "svc-001231", "svc-001232", "svc-001233", "svc-001234",
			"svc-001235", "svc-001236", "svc-001237", "svc-001238", "svc-001239")
	}, 10*time.Second, 50*time.Millisecond, "saw %v", names(p.rows()))
	require.Contains(t, mustEval[string](p, `location.search`), "q=SVC-00123")
	p.setValue("#search", "", "input")
	p.do(chromedp.Click(chromedp.CSS(`.chip[data-state="DOWN"]`)))
	require.Eventually(t, func() bool {
		rs := p.rows()
		return len(rs) > 5 && rs[0].Name == "svc-000050" && rs[0].State == "DOWN"
	}, 10*time.Second, 50*time.Millisecond, "the DOWN filter runs on the server")

	// A flip under the DOWN filter: the service enters the view, in order,
	// from the WebSocket event, and the counts move by one. No reload.
	mustEval[bool](p, `window.__sameDocument = true`)
	tg.set(http.StatusInternalServerError)
	require.Eventually(t, func() bool {
		rs := p.rows()
		return len(rs) > 0 && rs[0].Name == "aaa-flip" && rs[0].State == "DOWN"
	}, 10*time.Second, 50*time.Millisecond, "the flipped service appears under DOWN")
	require.Equal(t, "31", p.text(`.chip-count[data-count="DOWN"]`))
	require.True(t, mustEval[bool](p, `window.__sameDocument === true`), "the page did not reload")

	// The service's page: state, uptime, chart, results and transitions.
	p.do(chromedp.Click(chromedp.CSS(`#rows tr[data-id="` + flip.ID + `"] .service-name`)))
	require.Eventually(t, func() bool {
		return p.text("#detail-title") == "aaa-flip" && p.text("#detail-badge .badge-text") == "DOWN" &&
			mustEval[int](p, `document.querySelectorAll('#detail-results tr').length`) > 2 &&
			mustEval[int](p, `document.querySelectorAll('#chart polyline').length`) == 1 &&
			strings.Contains(p.text("#detail-transitions"), "UP → DOWN")
	}, 15*time.Second, 100*time.Millisecond, "the service's page fills in")
	require.Regexp(t, `^\d+(\.\d+)? %$`, p.text("#uptime-24h"))
	require.Positive(t, mustEval[int](p, `document.querySelectorAll('#chart .chart-fail').length`), "failures are marked")
	p.screenshot("service.png")
	p.prefersDark(true)
	p.screenshot("service-dark.png")
	p.prefersDark(false)

	// Recovery while on the service's page updates it in place.
	tg.set(http.StatusOK)
	require.Eventually(t, func() bool {
		return p.text("#detail-badge .badge-text") == "UP" && strings.Contains(p.text("#detail-transitions"), "DOWN → UP")
	}, 15*time.Second, 100*time.Millisecond, "the page follows the service live")
	p.do(chromedp.EmulateViewport(390, 844))
	p.screenshot("service-mobile.png")
	p.do(chromedp.Click(chromedp.CSS("#detail-back")))
	// The list is back; the recovery it missed while hidden may land a
	// moment after its rows do (CI saw the rows first once), so wait for
	// the row to leave rather than read the first frame.
	require.Eventually(t, func() bool {
		rs := names(p.rows())
		return len(rs) > 5 && !slices.Contains(rs, "aaa-flip")
	}, 10*time.Second, 50*time.Millisecond, "UP again: it left the DOWN view")
	require.Eventually(t, func() bool { return p.text(`.chip-count[data-count="DOWN"]`) == "30" },
		10*time.Second, 50*time.Millisecond, "the DOWN count is back to 30")
	p.requireNoProblems()
}

// TestDashboardAtScaleFigures measures the dashboard against 50,000
// services with transitions flowing. It is a measurement, not a test of
// behaviour, and takes minutes: run it with
//
//	VIGIL_BROWSER_FIGURES=1 go test -run TestDashboardAtScaleFigures -v -timeout 30m ./test/browser/
//
// VIGIL_BROWSER_FIGURES_MINUTES sets the heap window (default 2).
func TestDashboardAtScaleFigures(t *testing.T) {
	if os.Getenv("VIGIL_BROWSER_FIGURES") == "" {
		t.Skip("set VIGIL_BROWSER_FIGURES=1 to measure the dashboard at 50,000 services")
	}
	minutes := 2
	if v := os.Getenv("VIGIL_BROWSER_FIGURES_MINUTES"); v != "" {
		_, err := fmt.Sscan(v, &minutes)
		require.NoError(t, err)
	}
	p := newPage(t)
	const seeded = 50000
	base, _ := scaleServer(t, seeded)
	api := apiClient{t: t, base: base}
	const flappers = 10
	targets := make([]*target, flappers)
	ids := make([]string, flappers)
	for i := range targets {
		targets[i] = newTarget(t)
		ids[i] = api.register(fmt.Sprintf("aaa-flap-%02d", i), targets[i].srv.URL, "flap").ID
	}
	traffic := watchTraffic(t, p)

	began := time.Now()
	p.do(chromedp.Navigate(base + "/"))
	require.Eventually(t, func() bool { return len(p.rows()) > 0 }, 60*time.Second, 10*time.Millisecond)
	firstRows := time.Since(began)
	t.Logf("FIGURE time to first rows at %d services: %v (navigation start to the first row in the DOM, polled every 10 ms)",
		seeded+flappers, firstRows.Round(time.Millisecond))
	require.Eventually(t, func() bool { return p.attr("#connection", "data-state") == "live" }, 30*time.Second, 50*time.Millisecond)
	t.Logf("FIGURE first load: %d bytes received; %s", traffic.bytes(), mustEval[string](p, loadTimings))

	// Flip latency: the browser stamps when each row turns DOWN; the
	// server's transition time is in the event. Same machine, same clock.
	mustEval[bool](p, `(() => {
		window.__flips = [];
		new MutationObserver((ms) => { for (const m of ms) {
			const tr = m.target;
			if (m.oldValue !== 'DOWN' && tr.dataset.state === 'DOWN') window.__flips.push({id: tr.dataset.id, at: Date.now()});
		} }).observe(document.getElementById('rows'), {subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ['data-state']});
		return true; })()`)
	heap0 := heapMB(p)
	status := openStatusPage(t, api, base, flappers)
	stop := make(chan struct{})
	flapped := make(chan int, 1)
	go func() { // each flapper goes down and up in turn: a steady trickle of transitions
		n := 0
		for i := 0; ; i++ {
			select {
			case <-stop:
				flapped <- n
				return
			case <-time.After(3 * time.Second):
			}
			tg := targets[i%flappers]
			if tg.status.Load() == http.StatusOK {
				tg.set(http.StatusInternalServerError)
			} else {
				tg.set(http.StatusOK)
			}
			n++
		}
	}()
	time.Sleep(time.Duration(minutes) * time.Minute)
	close(stop)
	flips := <-flapped
	heap1 := heapMB(p)
	t.Logf("FIGURE JS heap: %.1f MB after load, %.1f MB after %d min with %d target flips (~%d transitions)",
		heap0, heap1, minutes, flips, flips)

	seen := mustEval[[]flipSeen](p, `window.__flips`)
	delays := flipDelays(t, api, ids, seen)
	t.Logf("FIGURE flip to DOM: %s over %d flips (server transition time to row turning DOWN)", summarize(delays), len(delays))
	delays = flipDelays(t, api, ids, mustEval[[]flipSeen](status, `window.__flips`))
	t.Logf("FIGURE status page flip to DOM: %s over %d flips (same, on the open status page)", summarize(delays), len(delays))

	// Idle: every flapper healthy, nothing changing; the bytes a quiet
	// minute costs.
	for _, tg := range targets {
		tg.set(http.StatusOK)
	}
	time.Sleep(15 * time.Second)
	b0 := traffic.bytes()
	time.Sleep(time.Minute)
	t.Logf("FIGURE idle traffic: %d bytes in one minute (HTTP bodies and WebSocket frames, as received)", traffic.bytes()-b0)
	p.requireNoProblems()
}

// openStatusPage publishes a status page of the flappers (tag "flap") on
// the 50,000-service server, opens it in a second tab, and logs how long
// the page took to load with its rows and how many bytes it cost. The tab
// stamps each row that turns DOWN in window.__flips, as the dashboard does.
func openStatusPage(t *testing.T, api apiClient, base string, want int) *page {
	t.Helper()
	api.call(http.MethodPost, "/api/v1/status-pages", map[string]any{
		"slug": "flap", "title": "Flappers", "tags": []string{"flap"}, "public": true,
	}, http.StatusCreated, nil)
	p := newPage(t)
	traffic := watchTraffic(t, p)
	began := time.Now()
	// The rows are in the served HTML (the page works without JavaScript),
	// so navigation's end is the time to first rows.
	p.do(chromedp.Navigate(base + "/status/flap"))
	loaded := time.Since(began)
	require.Len(t, mustEval[[]statusRow](p, statusRowsJS), want)
	t.Logf("FIGURE status page of %d services on a server of 50,000: rows in %v (navigation, rows in the HTML); %d bytes",
		want, loaded.Round(time.Millisecond), traffic.bytes())
	require.Eventually(t, func() bool { return p.attr("#live", "data-state") == "live" }, 30*time.Second, 50*time.Millisecond)
	mustEval[bool](p, `(() => {
		window.__flips = [];
		const seen = new Map();
		new MutationObserver(() => { for (const li of document.querySelectorAll('.service')) {
			const st = li.querySelector('.state').textContent;
			if (seen.get(li.dataset.id) !== 'DOWN' && st === 'DOWN') window.__flips.push({id: li.dataset.id, at: Date.now()});
			seen.set(li.dataset.id, st);
		} }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
		for (const li of document.querySelectorAll('.service')) seen.set(li.dataset.id, li.querySelector('.state').textContent);
		return true; })()`)
	return p
}

// loadTimings says when each request of the first load ended, in ms from
// navigation start, to show where the time to first rows goes.
const loadTimings = `performance.getEntriesByType('resource')
	.filter(e => /api\/v1|\/ws|app\.js/.test(e.name))
	.map(e => e.name.replace(/^.*?\/(api\/v1\/|assets\/[^/]+\/)?/, '') + ' ' + Math.round(e.startTime) + '–' + Math.round(e.responseEnd) + ' ms')
	.join('; ') + '; DOMContentLoaded ' + Math.round(performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd) + ' ms'`

// traffic adds up what the tab receives: HTTP responses (encoded, with
// headers) and WebSocket frame payloads.
type traffic struct {
	mu    sync.Mutex
	total int64
}

func (tr *traffic) bytes() int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.total
}

func watchTraffic(t *testing.T, p *page) *traffic {
	t.Helper()
	tr := &traffic{}
	require.NoError(t, chromedp.Listen(p.ctx, func(ev any) {
		var n int64
		switch e := ev.(type) {
		case *network.EventLoadingFinished:
			n = int64(e.EncodedDataLength)
		case *network.EventWebSocketFrameReceived:
			if e.Response != nil {
				n = int64(len(e.Response.PayloadData))
			}
		default:
			return
		}
		tr.mu.Lock()
		tr.total += n
		tr.mu.Unlock()
	}))
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	return tr
}

// heapMB is the tab's used JS heap after a garbage collection.
func heapMB(p *page) float64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, heapprofiler.CollectGarbage, cdp.Empty{})
	require.NoError(p.t, err)
	u, err := chromedp.Call(ctx, runtime.GetHeapUsage, cdp.Empty{})
	require.NoError(p.t, err)
	return u.UsedSize / (1 << 20)
}

// flipSeen is a row the page saw turn DOWN, at a browser time in ms.
type flipSeen struct {
	ID string `json:"id"`
	At int64  `json:"at"`
}

// flipDelays pairs each row that turned DOWN with the server's time of
// that transition (its newest transition to DOWN at or before the stamp).
func flipDelays(t *testing.T, api apiClient, ids []string, seen []flipSeen) []time.Duration {
	t.Helper()
	downs := map[string][]time.Time{}
	for _, id := range ids {
		var body struct {
			Items []struct {
				To string    `json:"to"`
				At time.Time `json:"at"`
			} `json:"items"`
		}
		api.call(http.MethodGet, "/api/v1/services/"+id+"/transitions?limit=1000", nil, http.StatusOK, &body)
		for _, it := range body.Items {
			if it.To == "DOWN" {
				downs[id] = append(downs[id], it.At)
			}
		}
	}
	var out []time.Duration
	for _, s := range seen {
		stamp := time.UnixMilli(s.At)
		var best time.Time
		for _, at := range downs[s.ID] {
			if !at.After(stamp) && at.After(best) {
				best = at
			}
		}
		if !best.IsZero() {
			out = append(out, stamp.Sub(best))
		}
	}
	return out
}

func summarize(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no flips seen"
	}
	slices.Sort(ds)
	pct := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return fmt.Sprintf("median %v, p95 %v, max %v", pct(0.5).Round(time.Millisecond),
		pct(0.95).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}
