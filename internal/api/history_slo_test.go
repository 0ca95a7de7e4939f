package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSLOTargetOnServices(t *testing.T) {
	h := newHarness(t)
	created := h.create(`{"name":"p","url":"https://example.com/","interval_seconds":10,"slo_target":99.9}`)
	require.Equal(t, 99.9, created["slo_target"])
	id := created["id"].(string)
	require.Nil(t, h.create(`{"name":"q","url":"https://example.com/","interval_seconds":10}`)["slo_target"])

	patched := h.do(http.MethodPatch, "/api/v1/services/"+id, `{"slo_target":99.5}`)
	require.Equal(t, http.StatusOK, patched.status)
	require.Equal(t, 99.5, patched.json(t)["slo_target"])
	require.Equal(t, 99.5, h.do(http.MethodGet, "/api/v1/services/"+id, "").json(t)["slo_target"])
	require.Equal(t, 99.5, h.do(http.MethodPatch, "/api/v1/services/"+id, `{"name":"p2"}`).json(t)["slo_target"], "absent keeps it")
	cleared := h.do(http.MethodPatch, "/api/v1/services/"+id, `{"slo_target":null}`)
	require.Equal(t, http.StatusOK, cleared.status)
	require.Nil(t, cleared.json(t)["slo_target"])

	for _, bad := range []string{`0`, `100`, `-1`, `100.5`, `"99.9"`, `true`, `1e999`} {
		resp := h.do(http.MethodPatch, "/api/v1/services/"+id, `{"slo_target":`+bad+`}`)
		if bad == `1e999` {
			require.Equal(t, http.StatusBadRequest, resp.status, bad)
			continue
		}
		requireError(t, resp, http.StatusBadRequest, CodeInvalidField, "slo_target")
	}
	resp := h.do(http.MethodPost, "/api/v1/services", `{"name":"r","url":"https://example.com/","interval_seconds":10,"slo_target":0}`)
	requireError(t, resp, http.StatusBadRequest, CodeInvalidField, "slo_target")
}

func TestSLO(t *testing.T) {
	h := newHarness(t)
	id := h.create(`{"name":"p","url":"https://example.com/","interval_seconds":10,"slo_target":99}`)["id"].(string)
	seedResults(h, id, 90) // one a minute for 90 minutes, every third failed

	got := h.do(http.MethodGet, "/api/v1/services/"+id+"/slo", "")
	require.Equal(t, http.StatusOK, got.status, "body: %s", got.body)
	m := got.json(t)
	require.Equal(t, "30d", m["window"])
	require.Equal(t, float64(99), m["target"])
	require.InDelta(t, 100*60.0/90, m["achieved"], 1e-9)
	// 30 failures of 90 with a 1% budget: the budget is spent 33 times over.
	require.InDelta(t, 1-(30.0/90)/0.01, m["error_budget_remaining_ratio"], 1e-9)
	burn := m["burn_rate"].(map[string]any)
	require.InDelta(t, (20.0/60)/0.01, burn["1h"], 1e-9)
	require.InDelta(t, (30.0/90)/0.01, burn["6h"], 1e-9)
	require.InDelta(t, (30.0/90)/0.01, burn["24h"], 1e-9)

	seven := h.do(http.MethodGet, "/api/v1/services/"+id+"/slo?window=7d", "").json(t)
	require.Equal(t, "7d", seven["window"])

	quiet := h.create(`{"name":"quiet","url":"https://example.com/","interval_seconds":10,"slo_target":99.9}`)["id"].(string)
	q := h.do(http.MethodGet, "/api/v1/services/"+quiet+"/slo", "").json(t)
	require.Nil(t, q["achieved"])
	require.Nil(t, q["error_budget_remaining_ratio"])
	require.Nil(t, q["burn_rate"].(map[string]any)["1h"])

	none := h.createNamed("none")
	requireError(t, h.do(http.MethodGet, "/api/v1/services/"+none+"/slo", ""), http.StatusConflict, CodeNoSLOTarget, "slo_target")
	requireError(t, h.do(http.MethodGet, "/api/v1/services/nope/slo", ""), http.StatusNotFound, CodeNotFound, "")
	for _, w := range []string{"0d", "401d", "forever", "-1h"} {
		requireError(t, h.do(http.MethodGet, "/api/v1/services/"+id+"/slo?window="+w, ""), http.StatusBadRequest, CodeInvalidParameter, "window")
	}
}

func TestWindowsReachTheRollupRetention(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxWindow = 400 * 24 * time.Hour })
	id := h.createNamed("p")
	resp := h.do(http.MethodGet, "/api/v1/services/"+id+"/uptime?window=400d", "")
	require.Equal(t, http.StatusOK, resp.status)
	requireError(t, h.do(http.MethodGet, "/api/v1/services/"+id+"/uptime?window=401d", ""), http.StatusBadRequest, CodeInvalidParameter, "window")
	requireError(t, h.do(http.MethodGet, "/api/v1/services/"+id+"/uptime?window=9601h", ""), http.StatusBadRequest, CodeInvalidParameter, "window")
}

func TestRollups(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("p")
	seedResults(h, id, 90)
	base := "/api/v1/services/" + id + "/rollups"

	got := h.do(http.MethodGet, base, "")
	require.Equal(t, http.StatusOK, got.status, "body: %s", got.body)
	m := got.json(t)
	require.Equal(t, "1h", m["resolution"])
	items := m["items"].([]any)
	require.Len(t, items, 3, "90 minutes before 09:26 span the 07:00, 08:00 and 09:00 hours")
	var checks float64
	for _, it := range items {
		item := it.(map[string]any)
		checks += item["checks"].(float64)
		lat := item["latency_ms"].(map[string]any)
		require.Equal(t, 120.25, lat["avg"])
		require.Equal(t, 120.25, lat["max"])
		require.Contains(t, item, "uptime_ratio")
	}
	require.InDelta(t, 90, checks, 0)
	require.Equal(t, "2025-03-14T08:00:00.000Z", items[1].(map[string]any)["start"])

	day := h.do(http.MethodGet, base+"?resolution=1d", "").json(t)
	require.Equal(t, "1d", day["resolution"])
	dayItems := day["items"].([]any)
	require.Len(t, dayItems, 1)
	require.Equal(t, float64(90), dayItems[0].(map[string]any)["checks"])
	require.Equal(t, "2025-03-14T00:00:00.000Z", dayItems[0].(map[string]any)["start"])

	ranged := h.do(http.MethodGet, base+"?since=2025-03-14T08:00:00Z&until=2025-03-14T09:00:00Z", "").json(t)
	require.Len(t, ranged["items"].([]any), 1)
	require.Equal(t, float64(60), ranged["items"].([]any)[0].(map[string]any)["checks"])

	for _, tt := range []struct{ query, field string }{
		{"?resolution=5m", "resolution"},
		{"?since=yesterday", "since"},
		{"?until=soon", "until"},
		{"?since=2025-03-14T09:00:00Z&until=2025-03-14T08:00:00Z", "until"},
		{"?since=2020-01-01T00:00:00Z", "since"},
	} {
		requireError(t, h.do(http.MethodGet, base+tt.query, ""), http.StatusBadRequest, CodeInvalidParameter, tt.field)
	}
	requireError(t, h.do(http.MethodGet, "/api/v1/services/nope/rollups", ""), http.StatusNotFound, CodeNotFound, "")
}
