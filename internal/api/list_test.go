package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/registry"
)

// servicesPage decodes a GET /services answer, requiring next_cursor to be
// present (null or a string) as the contract says.
func servicesPage(t *testing.T, resp response) (names []string, next *string) {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(resp.body, &raw))
	require.Contains(t, raw, "next_cursor", "next_cursor is always present")
	var body struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	require.NoError(t, json.Unmarshal(resp.body, &body))
	require.NotNil(t, body.Items)
	names = []string{}
	for _, it := range body.Items {
		names = append(names, it["name"].(string))
	}
	return names, body.NextCursor
}

func TestListServicesPages(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"e", "d", "c", "b", "a"} {
		h.createNamed(n)
	}
	got, next := servicesPage(t, h.do(http.MethodGet, "/api/v1/services", ""))
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, got, "without limit: every service, as before paging")
	require.Nil(t, next)

	var all []string
	path := "/api/v1/services?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "paging ends")
		got, next = servicesPage(t, h.do(http.MethodGet, path, ""))
		all = append(all, got...)
		if next == nil {
			break
		}
		require.NotEmpty(t, *next)
		path = "/api/v1/services?limit=2&cursor=" + url.QueryEscape(*next)
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, all)
}

func TestListServicesDefaultPageSize(t *testing.T) {
	h := newHarness(t)
	for i := range DefaultServicesLimit + 1 {
		h.reg.mustCreate(t, fmt.Sprintf("svc-%04d", i))
	}
	got, next := servicesPage(t, h.do(http.MethodGet, "/api/v1/services", ""))
	require.Len(t, got, DefaultServicesLimit)
	require.NotNil(t, next, "a registry past the default page says there is more")
	got, next = servicesPage(t, h.do(http.MethodGet, "/api/v1/services?cursor="+url.QueryEscape(*next), ""))
	require.Equal(t, []string{fmt.Sprintf("svc-%04d", DefaultServicesLimit)}, got)
	require.Nil(t, next)
}

func TestListServicesSearch(t *testing.T) {
	h := newHarness(t)
	for _, n := range []string{"Payments-API", "payments-db", "search"} {
		h.createNamed(n)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"?q=PAY", []string{"Payments-API", "payments-db"}},
		{"?q=%20api%20", []string{"Payments-API"}},
		{"?q=", []string{"Payments-API", "payments-db", "search"}},
		{"?q=nothing", []string{}},
		{"?q=pay&limit=1", []string{"Payments-API"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, _ := servicesPage(t, h.do(http.MethodGet, "/api/v1/services"+tt.query, ""))
			require.Equal(t, tt.want, got)
		})
	}
}

func TestListServicesBadParameters(t *testing.T) {
	h := newHarness(t)
	h.createNamed("a")
	tests := []struct{ query, field string }{
		{"?limit=0", "limit"},
		{"?limit=1001", "limit"},
		{"?limit=ten", "limit"},
		{"?cursor=nonsense", "cursor"},
		{"?cursor=" + strings.Repeat("A", 5000), "cursor"},
		{"?q=" + strings.Repeat("x", MaxSearchLength+1), "q"},
		{"?status=SIDEWAYS", "status"},
		{"?q=%00", "q"},
		{"?tag=%1b", "tag"},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 20)], func(t *testing.T) {
			requireError(t, h.do(http.MethodGet, "/api/v1/services"+tt.query, ""), http.StatusBadRequest, CodeInvalidParameter, tt.field)
		})
	}
	got, _ := servicesPage(t, h.do(http.MethodGet, "/api/v1/services?q="+strings.Repeat("é", MaxSearchLength), ""))
	require.Empty(t, got, "the bound counts characters, not bytes")
}

func TestCountServices(t *testing.T) {
	h := newHarness(t)
	a := h.create(`{"name":"alpha","url":"http://a.example","interval_seconds":5,"tags":["prod"]}`)["id"].(string)
	h.create(`{"name":"beta","url":"http://b.example","interval_seconds":5,"tags":["prod"]}`)
	h.create(`{"name":"gamma","url":"http://c.example","interval_seconds":5}`)
	require.Equal(t, http.StatusOK, h.do(http.MethodPost, "/api/v1/services/"+a+"/pause", "").status)

	counts := func(query string) map[string]any {
		t.Helper()
		resp := h.do(http.MethodGet, "/api/v1/services/counts"+query, "")
		require.Equal(t, http.StatusOK, resp.status, "body: %s", resp.body)
		return resp.json(t)
	}
	ts, err := h.reg.Transitions(t.Context(), registry.TransitionQuery{Newest: true, Limit: 1})
	require.NoError(t, err)
	last := float64(ts[0].ID)
	require.Equal(t, map[string]any{"total": 3.0, "by_status": map[string]any{
		"UP": 0.0, "DOWN": 0.0, "UNKNOWN": 2.0, "PAUSED": 1.0}, "last_transition_id": last}, counts(""))
	require.Equal(t, map[string]any{"total": 2.0, "by_status": map[string]any{
		"UP": 0.0, "DOWN": 0.0, "UNKNOWN": 1.0, "PAUSED": 1.0}, "last_transition_id": last}, counts("?tag=prod"))
	require.Equal(t, 1.0, counts("?q=GAM")["total"])

	requireError(t, h.do(http.MethodGet, "/api/v1/services/counts?status=UP", ""), http.StatusBadRequest, CodeInvalidParameter, "status")
	requireError(t, h.do(http.MethodGet, "/api/v1/services/counts?q="+strings.Repeat("x", 201), ""), http.StatusBadRequest, CodeInvalidParameter, "q")
}

func TestListAndCountFailures(t *testing.T) {
	h := newHarness(t)
	h.reg.failWith = errors.New("database is down")
	for _, path := range []string{"/api/v1/services", "/api/v1/services/counts"} {
		requireError(t, h.do(http.MethodGet, path, ""), http.StatusInternalServerError, CodeInternal, "")
	}
}
