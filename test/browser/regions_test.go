package browser

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/app"
)

// regionTargetAddr is the loopback address of the check with regions'
// target, an address of its own so that one region's deny list can cut it
// off alone, as if that region's network to it were down.
const regionTargetAddr = "127.0.0.9"

// newTargetAt is newTarget listening on addr.
func newTargetAt(t *testing.T, addr string) *target {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	require.NoError(t, err)
	tg := &target{}
	tg.status.Store(http.StatusOK)
	tg.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(tg.status.Load()))
	}))
	tg.srv.Listener = l
	tg.srv.Start()
	t.Cleanup(tg.srv.Close)
	return tg
}

// shownRegion is what a user sees of one region of a check.
type shownRegion struct {
	Name  string `json:"name"`
	State string `json:"state"` // data-state, which drives the colour
	Text  string `json:"text"`  // everything read out: name and state
	Color string `json:"color"` // computed colour of the pill
}

// regionsJS reads the regions under the element selector names.
func regionsJS(selector string) string {
	return `Array.from(document.querySelectorAll(` + jsString(selector) + `)).map(li => ({
  name: li.querySelector('.region-name').textContent,
  state: li.dataset.state,
  text: li.textContent.replace(/\s+/g, ' ').trim(),
  color: getComputedStyle(li).color,
}))`
}

func (p *page) regions(selector string) map[string]shownRegion {
	rs, err := eval[[]shownRegion](p, regionsJS(selector))
	if err != nil {
		return nil
	}
	m := make(map[string]shownRegion, len(rs))
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}

func regionsAre(got map[string]shownRegion, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for name, state := range want {
		if got[name].State != state || got[name].Text != name+" "+state {
			return false
		}
	}
	return true
}

// resultRegionsJS lists the region cell of every row of the service
// page's results, or null for a row without one.
const resultRegionsJS = `Array.from(document.querySelectorAll('#detail-results tr')).map(tr => {
  const c = tr.querySelector('.result-region');
  return c ? c.textContent : null;
})`

// TestDashboardShowsRegions registers a check probed from three regions
// (quorum 2, the default majority) beside one without regions. The eu-west
// workers cannot reach the target, us-east's can, and ap-south has no
// workers: eu-west is DOWN, us-east UP and ap-south UNKNOWN, so the check
// is UP. The list row shows each region's state; when the target fails,
// us-east goes DOWN too and the WebSocket transition updates the row
// without a reload. The service's page shows the regions and the quorum,
// the region of each result and the regions at each transition, and
// reads one region's history when one is picked. The check without
// regions shows no trace of them.
func TestDashboardShowsRegions(t *testing.T) {
	p := newPage(t)
	log := testLogger(t)
	cfg := baseConfig(t)
	web := start(t, "server", app.RunServer, cfg, log)
	start(t, "worker", app.RunWorker, cfg, log) // the default region's, for the plain check
	for region, deny := range map[string]string{"eu-west": regionTargetAddr + "/32", "us-east": ""} {
		wcfg := cfg
		wcfg.Migrate = false
		wcfg.Region = region
		wcfg.DenyNetworks = deny
		start(t, "worker-"+region, app.RunWorker, wcfg, log)
	}
	base := "http://" + web.addr
	api := apiClient{t: t, base: base}
	requireServesDashboard(t, base)

	edge := newTargetAt(t, regionTargetAddr)
	var svc struct {
		service
		Regions      []string          `json:"regions"`
		Quorum       int               `json:"quorum"`
		RegionStates map[string]string `json:"region_states"`
	}
	api.call(http.MethodPost, "/api/v1/services", map[string]any{
		"name": "edge-api", "url": edge.srv.URL, "interval_seconds": 1, "timeout_seconds": 0.8,
		"regions": []string{"eu-west", "us-east", "ap-south"},
	}, http.StatusCreated, &svc)
	require.Equal(t, 2, svc.Quorum)
	id := svc.ID
	plain := api.register("plain-api", newTarget(t).srv.URL)

	steady := map[string]string{"eu-west": "DOWN", "us-east": "UP", "ap-south": "UNKNOWN"}
	require.Eventually(t, func() bool {
		api.call(http.MethodGet, "/api/v1/services/"+id, nil, http.StatusOK, &svc)
		return svc.Status == "UP" && len(svc.RegionStates) == 3 &&
			svc.RegionStates["eu-west"] == "DOWN" && svc.RegionStates["us-east"] == "UP"
	}, 30*time.Second, 100*time.Millisecond, "eu-west is DOWN, us-east UP, and one DOWN region is no quorum")
	require.Equal(t, steady, svc.RegionStates)

	// The list: the row of the check with regions shows each region's
	// state as text (for screen readers) and in colour; the plain row
	// shows nothing of regions.
	p.do(chromedp.Navigate(base + "/"))
	require.Eventually(t, func() bool {
		rs := byName(p.rows())
		return rs["edge-api"].State == "UP" && rs["plain-api"].State == "UP"
	}, 30*time.Second, 100*time.Millisecond, "both rows are UP; saw %+v", p.rows())
	rowRegions := `#rows tr[data-id="` + id + `"] .regions .region`
	got := p.regions(rowRegions)
	require.True(t, regionsAre(got, steady), "the row shows each region's state; saw %+v", got)
	require.Equal(t, []string{"eu-west", "us-east", "ap-south"},
		mustEval[[]string](p, `Array.from(document.querySelectorAll(`+jsString(rowRegions)+`)).map(li => li.dataset.region)`),
		"in the order the check lists them")
	require.NotEqual(t, got["eu-west"].Color, got["us-east"].Color, "DOWN and UP differ in colour too")
	require.Equal(t, "eu-west: DOWN", p.attr(rowRegions+`[data-region="eu-west"]`, "title"))
	require.True(t, mustEval[bool](p, `(() => {
  const ul = document.querySelector('#rows tr[data-id="`+plain.ID+`"] .regions');
  return ul.hidden && getComputedStyle(ul).display === 'none' && ul.childElementCount === 0;
})()`), "a check without regions shows no region UI")

	// The target fails: us-east goes DOWN as well, two of three make the
	// check DOWN, and the transition's regions reach the row over the
	// WebSocket, with no reload (the marker would not survive one).
	require.Eventually(t, func() bool { return p.attr("#connection", "data-state") == "live" },
		15*time.Second, 100*time.Millisecond, "the WebSocket connects")
	mustEval[bool](p, `window.__sameDocument = true`)
	edge.set(http.StatusInternalServerError)
	down := map[string]string{"eu-west": "DOWN", "us-east": "DOWN", "ap-south": "UNKNOWN"}
	require.Eventually(t, func() bool {
		return byName(p.rows())["edge-api"].State == "DOWN" && regionsAre(p.regions(rowRegions), down)
	}, 15*time.Second, 100*time.Millisecond, "the row shows us-east DOWN; saw %+v", p.regions(rowRegions))
	require.True(t, mustEval[bool](p, `window.__sameDocument === true`), "the page did not reload")
	require.Equal(t, "UP", byName(p.rows())["plain-api"].State)
	p.screenshot("dashboard-regions.png")

	// The service's page: the regions, the quorum, and the region of
	// each result.
	p.do(chromedp.Click(chromedp.CSS(`#rows tr[data-id="` + id + `"] .service-name`)))
	require.Eventually(t, func() bool { return p.text("#detail-title") == "edge-api" },
		10*time.Second, 100*time.Millisecond, "the service's page opens")
	require.Eventually(t, func() bool { return regionsAre(p.regions("#detail-regions .region"), down) },
		10*time.Second, 100*time.Millisecond, "the page shows each region's state; saw %+v", p.regions("#detail-regions .region"))
	require.Equal(t, "DOWN when 2 of 3 regions are DOWN.", p.text("#detail-quorum"))
	require.False(t, mustEval[bool](p, `document.getElementById('detail-regions-card').hidden`))
	require.Equal(t, "Region", p.text("#detail-region-col"))
	require.False(t, mustEval[bool](p, `document.getElementById('detail-region-col').hidden`))
	seen := func() map[string]int {
		cells, _ := eval[[]*string](p, resultRegionsJS)
		n := map[string]int{}
		for _, c := range cells {
			if c == nil {
				n["<no cell>"]++
			} else {
				n[*c]++
			}
		}
		return n
	}
	require.Eventually(t, func() bool {
		n := seen()
		return n["eu-west"] > 0 && n["us-east"] > 0 && len(n) == 2
	}, 10*time.Second, 100*time.Millisecond, "results of both probing regions, each naming its region; saw %v", seen())

	// The transition to DOWN lists the regions at the change.
	trDown := `#detail-transitions > li:first-child .region`
	require.Eventually(t, func() bool { return regionsAre(p.regions(trDown), down) },
		10*time.Second, 100*time.Millisecond, "the transition shows the regions; saw %+v", p.regions(trDown))

	// One region's history: the results and transitions are read again
	// with ?region=. eu-west's results never tipped the vote (one DOWN
	// region is no quorum), us-east's did both times.
	transitions := func() int { return mustEval[int](p, `document.querySelectorAll('#detail-transitions > li').length`) }
	p.setValue("#detail-region", "eu-west", "change")
	require.Eventually(t, func() bool {
		n := seen()
		return n["eu-west"] > 0 && len(n) == 1 && transitions() == 0
	}, 10*time.Second, 100*time.Millisecond, "only eu-west's results and no transition; saw %v and %d", seen(), transitions())
	p.setValue("#detail-region", "us-east", "change")
	require.Eventually(t, func() bool {
		n := seen()
		return n["us-east"] > 0 && len(n) == 1 && transitions() == 2
	}, 10*time.Second, 100*time.Millisecond, "only us-east's results and its two transitions; saw %v and %d", seen(), transitions())
	require.True(t, regionsAre(p.regions(trDown), down), "the newest is the change to DOWN")
	p.setValue("#detail-region", "", "change")
	require.Eventually(t, func() bool {
		n := seen()
		return n["eu-west"] > 0 && n["us-east"] > 0 && transitions() == 2
	}, 10*time.Second, 100*time.Millisecond, "every region again; saw %v", seen())
	p.screenshot("service-regions.png")

	// The page of the check without regions is as it always was.
	p.do(chromedp.Navigate(base + "/#/services/" + plain.ID))
	require.Eventually(t, func() bool {
		n := seen()
		return p.text("#detail-title") == "plain-api" && len(n) == 1 && n["<no cell>"] > 0
	}, 10*time.Second, 100*time.Millisecond, "the plain service's results, with no region column; saw %v", seen())
	require.True(t, mustEval[bool](p, `document.getElementById('detail-regions-card').hidden &&
  document.getElementById('detail-region-col').hidden &&
  Array.from(document.querySelectorAll('#detail-results tr')).every(tr => tr.cells.length === 4) &&
  document.querySelectorAll('#detail-transitions .regions').length === 0`), "no region UI on its page")
	p.requireNoProblems()
}
