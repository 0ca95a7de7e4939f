package browser

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/app"
)

// condition is what a user sees of one condition on a service's page.
type condition struct {
	Expr   string `json:"expr"`
	Result string `json:"result"` // data-result: held, failed or unjudged
	Mark   string `json:"mark"`
	Why    string `json:"why"`
}

const conditionsJS = `Array.from(document.querySelectorAll('#detail-conditions li')).map(li => ({
  expr: li.querySelector('.condition-expr').textContent,
  result: li.dataset.result,
  mark: li.querySelector('.condition-mark').textContent,
  why: (li.querySelector('.condition-why') || {textContent: ''}).textContent,
}))`

// TestServicePageShowsFailedCondition: a check with two conditions, the
// second false, shows both on its page and marks the second as the one
// that failed, with the value seen; when the target recovers, the page
// (kept live by the WebSocket) shows both holding. The first condition
// holds markup, which must stay text.
func TestServicePageShowsFailedCondition(t *testing.T) {
	p := newPage(t)
	log := testLogger(t)
	cfg := baseConfig(t)
	web := start(t, "server", app.RunServer, cfg, log)
	start(t, "worker", app.RunWorker, cfg, log)
	base := "http://" + web.addr
	api := apiClient{t: t, base: base}
	requireServesDashboard(t, base)

	var body atomic.Value
	body.Store(`{"status":"DEGRADED"}`)
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	t.Cleanup(tg.Close)

	conds := []string{`!body.contains("<img src=x onerror=alert(1)>")`, `json.status == "UP"`}
	var svc struct {
		service
		FailedCondition *int `json:"failed_condition"`
	}
	api.call(http.MethodPost, "/api/v1/services", map[string]any{
		"name": "orders", "url": tg.URL, "interval_seconds": 1, "timeout_seconds": 0.8, "conditions": conds,
	}, http.StatusCreated, &svc)
	id := svc.ID
	require.Eventually(t, func() bool {
		api.call(http.MethodGet, "/api/v1/services/"+id, nil, http.StatusOK, &svc)
		return svc.Status == "DOWN" && svc.FailedCondition != nil
	}, 30*time.Second, 100*time.Millisecond, "the second condition fails")
	require.Equal(t, 1, *svc.FailedCondition, "the API names the second condition")

	p.do(chromedp.Navigate(base + "/#/services/" + id))
	var got []condition
	require.Eventually(t, func() bool {
		got, _ = eval[[]condition](p, conditionsJS)
		return len(got) == 2
	}, 15*time.Second, 100*time.Millisecond, "the page lists both conditions")
	require.Equal(t, conds[0], got[0].Expr, "expressions are text, never markup")
	require.Equal(t, conds[1], got[1].Expr)
	require.Equal(t, "held", got[0].Result, "the first held")
	require.Equal(t, "held", got[0].Mark)
	require.Equal(t, "failed", got[1].Result, "the second is marked as the one that failed")
	require.Equal(t, "failed", got[1].Mark)
	require.Contains(t, got[1].Why, `json.status = "DEGRADED"`, "with the value seen")
	require.Empty(t, got[0].Why)
	require.Zero(t, mustEval[int](p, `document.querySelectorAll('#detail img').length`), "no markup from a condition")
	require.Equal(t, "red", mustEval[string](p, `(() => {
  const [r, g] = getComputedStyle(document.querySelector('#detail-conditions [data-result="failed"] .condition-mark')).color
    .match(/\d+/g).map(Number);
  return r > g ? 'red' : 'other';
})()`), "the failed mark is in the DOWN colour")
	p.screenshot("service-conditions.png")

	// The target recovers: the transition reaches the open page, which
	// shows both conditions holding.
	body.Store(`{"status":"UP"}`)
	require.Eventually(t, func() bool {
		got, _ = eval[[]condition](p, conditionsJS)
		return len(got) == 2 && got[0].Result == "held" && got[1].Result == "held"
	}, 30*time.Second, 100*time.Millisecond, "both hold after the recovery; saw %+v", got)
	require.Equal(t, "UP", p.text("#detail-badge .badge-text"))
	p.requireNoProblems()
}
