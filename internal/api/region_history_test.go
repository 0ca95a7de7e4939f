package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// TestServiceRegionStates: a check with regions shows each listed region's
// state as the vote counts it, read alone and in the list; a check
// without regions shows none.
func TestServiceRegionStates(t *testing.T) {
	h := newHarness(t)
	plainID := h.createNamed("a-plain")
	created := h.create(`{"name":"b-multi","url":"https://a.example","interval_seconds":10,"regions":["eu","us","ap"]}`)
	id := created["id"].(string)
	require.Equal(t, map[string]any{"eu": "UNKNOWN", "us": "UNKNOWN", "ap": "UNKNOWN"}, created["region_states"],
		"no region has sent a result yet")

	h.reg.SetRegionState(id, "eu", check.Snapshot{State: check.StateUp, LastScheduledAt: testNow})
	// Four intervals behind eu: stale, so the vote counts it UNKNOWN.
	h.reg.SetRegionState(id, "us", check.Snapshot{State: check.StateDown, LastScheduledAt: testNow.Add(-40 * time.Second)})
	// A region the check no longer lists shows nowhere.
	h.reg.SetRegionState(id, "gone", check.Snapshot{State: check.StateDown, LastScheduledAt: testNow})
	want := map[string]any{"eu": "UP", "us": "UNKNOWN", "ap": "UNKNOWN"}
	require.Equal(t, want, h.do(http.MethodGet, "/api/v1/services/"+id, "").json(t)["region_states"])

	h.reg.SetRegionState(id, "us", check.Snapshot{State: check.StateDown, LastScheduledAt: testNow.Add(-30 * time.Second)})
	want["us"] = "DOWN" // three intervals behind still counts
	var list struct {
		Items []map[string]any `json:"items"`
	}
	resp := h.do(http.MethodGet, "/api/v1/services", "")
	require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
	require.NoError(t, json.Unmarshal(resp.body, &list))
	require.Len(t, list.Items, 2)
	require.Equal(t, plainID, list.Items[0]["id"])
	require.NotContains(t, list.Items[0], "region_states", "a check without regions reads as before")
	require.Equal(t, want, list.Items[1]["region_states"])

	require.NotContains(t, h.do(http.MethodGet, "/api/v1/services/"+plainID, "").json(t), "region_states")
}

// TestResultsOfOneRegion: ?region= keeps that region's results and pages
// through them; a region the check does not list is an empty page, a
// name no region can have a 400 naming the parameter.
func TestResultsOfOneRegion(t *testing.T) {
	h := newHarness(t)
	id := h.create(`{"name":"multi","url":"https://a.example","interval_seconds":10,"regions":["eu","us"]}`)["id"].(string)
	for n := 1; n <= 5; n++ {
		for _, region := range []string{"eu", "us"} {
			at := testNow.Add(-time.Duration(n) * 10 * time.Second)
			h.reg.addResult(check.Result{CheckID: id, ScheduledAt: at, CheckedAt: at, Status: check.ResultUp, Region: region})
		}
	}
	var ticks []string
	path := "/api/v1/services/" + id + "/results?region=us&limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		p := getResults(t, h, path)
		for _, it := range p.Items {
			require.Equal(t, "us", it["region"])
			ticks = append(ticks, it["scheduled_at"].(string))
		}
		if p.NextCursor == nil {
			break
		}
		path = "/api/v1/services/" + id + "/results?region=us&limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	require.Len(t, ticks, 5)
	require.Len(t, getResults(t, h, "/api/v1/services/"+id+"/results").Items, 10, "without ?region= every region's")

	p := getResults(t, h, "/api/v1/services/"+id+"/results?region=ap")
	require.Empty(t, p.Items)
	require.Nil(t, p.NextCursor)

	for _, bad := range []string{"EU", "-eu", "eu_west", "a.b"} {
		requireError(t, h.do(http.MethodGet, "/api/v1/services/"+id+"/results?region="+url.QueryEscape(bad), ""),
			http.StatusBadRequest, CodeInvalidParameter, "region")
	}
}

// TestTransitionsOfOneRegion: ?region= keeps the transitions that region's
// results caused; a pause is no region's.
func TestTransitionsOfOneRegion(t *testing.T) {
	h := newHarness(t)
	id := h.create(`{"name":"multi","url":"https://a.example","interval_seconds":10,"regions":["eu","us"],"quorum":1}`)["id"].(string)
	at := testNow.Add(-time.Minute)
	h.reg.AddTransition(check.Transition{CheckID: id, Service: "multi", From: check.StateUnknown, To: check.StateUp,
		At: at, ScheduledAt: at, Region: "eu", Regions: map[string]check.State{"eu": check.StateUp, "us": check.StateUnknown}})
	h.reg.AddTransition(check.Transition{CheckID: id, Service: "multi", From: check.StateUp, To: check.StateDown,
		At: at.Add(10 * time.Second), ScheduledAt: at.Add(10 * time.Second), Region: "us",
		Regions: map[string]check.State{"eu": check.StateUp, "us": check.StateDown}})
	require.Equal(t, http.StatusOK, h.do(http.MethodPost, "/api/v1/services/"+id+"/pause", "").status)

	list := func(query string) []any {
		t.Helper()
		resp := h.do(http.MethodGet, "/api/v1/services/"+id+"/transitions"+query, "")
		require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
		return resp.json(t)["items"].([]any)
	}
	require.Len(t, list(""), 3)
	us := list("?region=us")
	require.Len(t, us, 1)
	require.Equal(t, "DOWN", us[0].(map[string]any)["to"])
	require.Equal(t, map[string]any{"eu": "UP", "us": "DOWN"}, us[0].(map[string]any)["regions"])
	require.Len(t, list("?region=eu"), 1)
	require.Empty(t, list("?region=default"), "a pause is caused by no region's result")
	require.Empty(t, list("?region=ap"), "a region the check does not list")
	requireError(t, h.do(http.MethodGet, "/api/v1/services/"+id+"/transitions?region=Eu", ""),
		http.StatusBadRequest, CodeInvalidParameter, "region")
}

// TestUptimeOfOneRegion: ?region= counts that region's results alone, over
// windows up to the results retention; a longer window, or a name no
// region can have, is a 400 naming region.
func TestUptimeOfOneRegion(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ResultsRetention = 7 * 24 * time.Hour })
	id := h.create(`{"name":"multi","url":"https://a.example","interval_seconds":10,"regions":["eu","us"]}`)["id"].(string)
	for n := 1; n <= 6; n++ {
		at := testNow.Add(-time.Duration(n) * 10 * time.Second)
		h.reg.addResult(check.Result{CheckID: id, ScheduledAt: at, CheckedAt: at, Status: check.ResultUp,
			Latency: 100 * time.Millisecond, Region: "eu"})
		us := check.Result{CheckID: id, ScheduledAt: at, CheckedAt: at, Status: check.ResultUp,
			Latency: 300 * time.Millisecond, Region: "us"}
		if n%3 == 0 {
			us.Status = check.ResultDown
		}
		h.reg.addResult(us)
	}
	get := func(query string) map[string]any {
		t.Helper()
		resp := h.do(http.MethodGet, "/api/v1/services/"+id+"/uptime"+query, "")
		require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
		return resp.json(t)
	}
	us := get("?region=us&window=1h")
	require.Equal(t, "us", us["region"])
	require.Equal(t, float64(6), us["checks"])
	require.Equal(t, float64(2), us["failures"])
	require.InDelta(t, 4.0/6, us["uptime_ratio"], 1e-9)
	require.Equal(t, float64(300), us["latency_ms"].(map[string]any)["avg"])

	eu := get("?region=eu")
	require.Equal(t, float64(6), eu["checks"])
	require.Equal(t, float64(0), eu["failures"])
	require.Equal(t, float64(100), eu["latency_ms"].(map[string]any)["avg"])

	all := get("?window=7d")
	require.NotContains(t, all, "region", "every region's results")
	require.Equal(t, float64(12), all["checks"])
	require.Equal(t, float64(2), all["failures"])

	ap := get("?region=ap&window=7d")
	require.Equal(t, float64(0), ap["checks"], "a region the check does not list")
	require.Nil(t, ap["uptime_ratio"])

	for _, bad := range []string{"EU", "-eu", "eu_west", "a.b"} {
		requireError(t, h.do(http.MethodGet, "/api/v1/services/"+id+"/uptime?region="+url.QueryEscape(bad), ""),
			http.StatusBadRequest, CodeInvalidParameter, "region")
	}
	for _, w := range []string{"8d", "169h"} {
		resp := h.do(http.MethodGet, "/api/v1/services/"+id+"/uptime?region=eu&window="+w, "")
		requireError(t, resp, http.StatusBadRequest, CodeInvalidParameter, "region")
		require.Contains(t, string(resp.body), "at most 7d", "says why")
	}
	require.Equal(t, float64(12), get("?window=8d")["checks"], "without a region the rollups answer long windows")
}
