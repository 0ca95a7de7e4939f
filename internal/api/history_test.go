package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// seedResults gives id n results one minute apart, the newest one minute
// before testNow; every third one failed.
func seedResults(h *harness, id string, n int) {
	for i := n; i >= 1; i-- {
		at := testNow.Add(-time.Duration(i) * time.Minute)
		r := check.Result{CheckID: id, ScheduledAt: at, CheckedAt: at.Add(120 * time.Millisecond),
			Status: check.ResultUp, Latency: 120250 * time.Microsecond, HTTPStatus: 200}
		if i%3 == 0 {
			r.Status, r.HTTPStatus, r.Error = check.ResultDown, 503, "unexpected status 503"
		}
		h.reg.addResult(r)
	}
}

type resultsPage struct {
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

func getResults(t *testing.T, h *harness, path string) resultsPage {
	t.Helper()
	resp := h.do(http.MethodGet, path, "")
	require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
	var p resultsPage
	require.NoError(t, json.Unmarshal(resp.body, &p))
	require.NotNil(t, p.Items)
	return p
}

func TestResultsPaging(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	seedResults(h, id, 25)

	var seen []string
	path := "/api/v1/services/" + id + "/results?limit=10"
	pages := 0
	for {
		p := getResults(t, h, path)
		pages++
		for _, it := range p.Items {
			seen = append(seen, it["scheduled_at"].(string))
		}
		if p.NextCursor == nil {
			break
		}
		path = "/api/v1/services/" + id + "/results?limit=10&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	require.Equal(t, 3, pages)
	require.Len(t, seen, 25)
	for i := 1; i < len(seen); i++ {
		require.Greater(t, seen[i-1], seen[i], "newest first")
	}

	first := getResults(t, h, "/api/v1/services/"+id+"/results?limit=1").Items[0]
	require.Equal(t, map[string]any{
		"status": "UP", "latency_ms": 120.25, "checked_at": "2025-03-14T09:25:53.709Z",
		"scheduled_at": "2025-03-14T09:25:53.589Z", "http_status": float64(200),
	}, first)
	failed := getResults(t, h, "/api/v1/services/"+id+"/results?limit=3").Items[2]
	require.Equal(t, "DOWN", failed["status"])
	require.Equal(t, "unexpected status 503", failed["error"])

	t.Run("default limit is 100", func(t *testing.T) {
		other := h.createNamed("busy")
		seedResults(h, other, 150)
		p := getResults(t, h, "/api/v1/services/"+other+"/results")
		require.Len(t, p.Items, DefaultLimit)
		require.NotNil(t, p.NextCursor)
	})
	t.Run("since and until", func(t *testing.T) {
		q := url.Values{
			"since": {testNow.Add(-10 * time.Minute).Format(time.RFC3339Nano)},
			"until": {testNow.Add(-5 * time.Minute).Format(time.RFC3339Nano)},
		}
		p := getResults(t, h, "/api/v1/services/"+id+"/results?"+q.Encode())
		require.Len(t, p.Items, 6, "both bounds are inclusive")
		require.Nil(t, p.NextCursor)
	})
	t.Run("no results", func(t *testing.T) {
		fresh := h.createNamed("fresh")
		p := getResults(t, h, "/api/v1/services/"+fresh+"/results")
		require.Empty(t, p.Items)
		require.Nil(t, p.NextCursor)
	})
}

func TestQueryParamErrors(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	base := "/api/v1/services/" + id
	tests := []struct {
		path  string
		field string
	}{
		{base + "/results?limit=0", "limit"},
		{base + "/results?limit=1001", "limit"},
		{base + "/results?limit=-1", "limit"},
		{base + "/results?limit=ten", "limit"},
		{base + "/results?limit=1.5", "limit"},
		{base + "/results?since=yesterday", "since"},
		{base + "/results?since=2025-01-02", "since"},
		{base + "/results?until=1736000000", "until"},
		{base + "/results?since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z", "since"},
		{base + "/results?cursor=bogus", "cursor"},
		{base + "/transitions?limit=0", "limit"},
		{base + "/transitions?limit=x", "limit"},
		{base + "/uptime?window=0s", "window"},
		{base + "/uptime?window=-1h", "window"},
		{base + "/uptime?window=forever", "window"},
		{base + "/uptime?window=0d", "window"},
		{base + "/uptime?window=367d", "window"},
		{base + "/uptime?window=8785h", "window"},
		{base + "/uptime?window=1.5d", "window"},
		{base + "/uptime?window=d", "window"},
		{"/api/v1/services?status=up-ish", "status"},
		// Text the store cannot take is the caller's mistake, not a 500.
		{"/api/v1/services?tag=prod%00", "tag"},
		{"/api/v1/services?tag=%ff", "tag"},
		{"/api/v1/services?status=UP%00", "status"},
		{base + "/results?cursor=%00", "cursor"},
		{base + "/results?limit=10&since=%0a", "since"},
		{"/api/v1/services/" + id + "%00", "id"},
		{"/api/v1/services/%ff/results", "id"},
		{"/api/v1/services/%c2%85/uptime", "id"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			requireError(t, h.do(http.MethodGet, tt.path, ""), http.StatusBadRequest, CodeInvalidParameter, tt.field)
		})
	}
}

func TestTransitions(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	other := h.createNamed("orders")
	h.reg.AddTransition(check.Transition{CheckID: id, Service: "payments", From: check.StateUnknown, To: check.StateUp,
		At: testNow.Add(-time.Hour), Latency: 35 * time.Millisecond})
	h.reg.AddTransition(check.Transition{CheckID: other, Service: "orders", From: check.StateUnknown, To: check.StateUp, At: testNow})
	h.reg.AddTransition(check.Transition{CheckID: id, Service: "payments", From: check.StateUp, To: check.StateDown,
		At: testNow.Add(-time.Minute), Latency: 2001 * time.Millisecond, Error: "timeout after 2s"})

	resp := h.do(http.MethodGet, "/api/v1/services/"+id+"/transitions", "")
	require.Equal(t, http.StatusOK, resp.status)
	var body struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal(resp.body, &body))
	require.Equal(t, []map[string]any{
		{"id": float64(3), "service_id": id, "service": "payments", "from": "UP", "to": "DOWN",
			"at": "2025-03-14T09:25:53.589Z", "latency_ms": float64(2001), "error": "timeout after 2s"},
		{"id": float64(1), "service_id": id, "service": "payments", "from": "UNKNOWN", "to": "UP",
			"at": "2025-03-14T08:26:53.589Z", "latency_ms": float64(35)},
	}, body.Items)

	resp = h.do(http.MethodGet, "/api/v1/services/"+id+"/transitions?limit=1", "")
	require.NoError(t, json.Unmarshal(resp.body, &body))
	require.Len(t, body.Items, 1)
	require.Equal(t, float64(3), body.Items[0]["id"])

	fresh := h.createNamed("fresh")
	require.JSONEq(t, `{"items":[]}`, string(h.do(http.MethodGet, "/api/v1/services/"+fresh+"/transitions", "").body))
}

func TestUptime(t *testing.T) {
	h := newHarness(t)
	id := h.createNamed("payments")
	seedResults(h, id, 90) // one per minute for 90 minutes, every third failed

	tests := []struct {
		window     string
		wantWindow string
		since      time.Duration
		checks     float64
		failures   float64
	}{
		{"", "24h", 24 * time.Hour, 90, 30},
		{"24h", "24h", 24 * time.Hour, 90, 30},
		{"1h", "1h", time.Hour, 60, 20},
		{"90m", "1h30m", 90 * time.Minute, 90, 30},
		{"30m0s", "30m", 30 * time.Minute, 30, 10},
		{"1h0m30s", "1h0m30s", time.Hour + 30*time.Second, 60, 20},
		{"7d", "7d", 7 * 24 * time.Hour, 90, 30},
		{"366d", "366d", 366 * 24 * time.Hour, 90, 30},
	}
	for _, tt := range tests {
		t.Run(tt.window, func(t *testing.T) {
			resp := h.do(http.MethodGet, "/api/v1/services/"+id+"/uptime?window="+tt.window, "")
			require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
			got := resp.json(t)
			require.Equal(t, map[string]any{
				"window":       tt.wantWindow,
				"uptime_ratio": (tt.checks - tt.failures) / tt.checks,
				"checks":       tt.checks,
				"failures":     tt.failures,
				"since":        testNow.Add(-tt.since).Format(timeFormat),
				"until":        "2025-03-14T09:26:53.589Z",
				"latency_ms":   map[string]any{"avg": 120.25, "p95": 120.25},
			}, got)
		})
	}
	t.Run("no results means no ratio", func(t *testing.T) {
		fresh := h.createNamed("fresh")
		got := h.do(http.MethodGet, "/api/v1/services/"+fresh+"/uptime?window=1h", "").json(t)
		require.Contains(t, got, "uptime_ratio")
		require.Nil(t, got["uptime_ratio"])
		require.Equal(t, float64(0), got["checks"])
		require.Nil(t, got["latency_ms"])
	})
}

func TestParseWindow(t *testing.T) {
	tests := []struct {
		raw  string
		want time.Duration
		name string
		ok   bool
	}{
		{"", 24 * time.Hour, "24h", true},
		{"1s", time.Second, "1s", true},
		{"500ms", 500 * time.Millisecond, "500ms", true},
		{"2h45m", 165 * time.Minute, "2h45m", true},
		{"1d", 24 * time.Hour, "1d", true},
		{"030d", 30 * 24 * time.Hour, "30d", true},
		{"8784h", MaxWindow, "8784h", true},
		{"+1d", 0, "", false},
		{"8784h1ns", 0, "", false},
		{"-1d", 0, "", false},
		{"1w", 0, "", false},
		{"99999999999999999999d", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			d, name, err := parseWindow(tt.raw, DefaultWindow, MaxWindow)
			if !tt.ok {
				var pe *queryParamError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, "window", pe.name)
				require.Contains(t, err.Error(), "window")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, d)
			require.Equal(t, tt.name, name)
		})
	}
}

func TestLimitBounds(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want int
	}{{"1", 1}, {"1000", 1000}, {"", DefaultLimit}, {"50", 50}} {
		t.Run(fmt.Sprintf("limit=%q", tt.raw), func(t *testing.T) {
			n, err := parseLimit(url.Values{"limit": {tt.raw}})
			require.NoError(t, err)
			require.Equal(t, tt.want, n)
		})
	}
}
