package statuspage

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type fakeStore struct {
	mu        sync.Mutex
	pages     map[string]registry.StatusPage
	services  map[string][]registry.Service
	daily     map[string][]registry.DayUptime
	incidents []check.Transition
	err       error
	dailyHits int
}

func (f *fakeStore) StatusPageBySlug(_ context.Context, slug string) (registry.StatusPage, error) {
	if f.err != nil {
		return registry.StatusPage{}, f.err
	}
	p, ok := f.pages[slug]
	if !ok {
		return registry.StatusPage{}, registry.ErrNotFound
	}
	return p, nil
}

func (f *fakeStore) StatusPageServices(_ context.Context, id string) ([]registry.Service, error) {
	return f.services[id], nil
}

func (f *fakeStore) DailyUptime(_ context.Context, ids []string, since, until time.Time) (map[string][]registry.DayUptime, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dailyHits++
	if !until.After(since) || until.Sub(since) != Days*24*time.Hour {
		return nil, errors.New("bad window")
	}
	out := map[string][]registry.DayUptime{}
	for _, id := range ids {
		out[id] = f.daily[id]
	}
	return out, nil
}

func (f *fakeStore) TransitionsOf(context.Context, []string, int) ([]check.Transition, error) {
	return f.incidents, nil
}

func (f *fakeStore) Transitions(context.Context, registry.TransitionQuery) ([]check.Transition, error) {
	return []check.Transition{{ID: 77}}, nil
}

func svc(id, name string, state check.State, tags ...string) registry.Service {
	return registry.Service{Check: check.Check{ID: id, Name: name, Tags: tags, URL: "http://10.0.0.1/internal"},
		State: check.Snapshot{State: state, LastChangeAt: now.Add(-time.Hour), LastError: "dial tcp 10.0.0.1: refused"}}
}

func newFixture() (*fakeStore, *Handler, *http.ServeMux) {
	today := now.Truncate(24 * time.Hour)
	st := &fakeStore{
		pages: map[string]registry.StatusPage{
			"acme":   {ID: "p1", Slug: "acme", Title: "Acme <b>", Tags: []string{"pay", "search"}, Public: true},
			"hidden": {ID: "p2", Slug: "hidden", Title: "Hidden"},
			"k8s":    {ID: "p3", Slug: "k8s", Title: "K", Public: true, ServiceIDs: []string{"c"}},
		},
		services: map[string][]registry.Service{
			"p1": {svc("a", "pay <script>", check.StateDown, "pay"), svc("b", "search", check.StateUp, "search", "pay")},
			"p3": {svc("c", "labelled", check.StateUp)},
		},
		daily: map[string][]registry.DayUptime{
			"a": {{Day: today, Uptime: registry.Uptime{Checks: 100, Failures: 10}}, {Day: today.AddDate(0, 0, -1), Uptime: registry.Uptime{Checks: 1000, Failures: 1}}},
			"b": {{Day: today.AddDate(0, 0, -89), Uptime: registry.Uptime{Checks: 100}}, {Day: today.AddDate(0, 0, -2), Uptime: registry.Uptime{Checks: 100, Failures: 3}}},
		},
		incidents: []check.Transition{{ID: 5, CheckID: "a", Service: "pay <script>", From: check.StateUp, To: check.StateDown, At: now, Error: "secret host"}},
	}
	var authed bool
	h := New(Config{Store: st, Now: func() time.Time { return now }, Authenticated: func(r *http.Request) bool {
		authed = r.Header.Get("X-Test-Auth") == "yes"
		return authed
	}})
	mux := http.NewServeMux()
	h.Register(mux)
	return st, h, mux
}

func get(mux http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func TestPageShowsOnlyWhatItSelects(t *testing.T) {
	st, _, mux := newFixture()
	rec := get(mux, "/status/acme")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, ContentSecurityPolicy, rec.Header().Get("Content-Security-Policy"))
	require.Equal(t, "public, max-age=30", rec.Header().Get("Cache-Control"))
	body := rec.Body.String()
	require.Contains(t, body, "Acme &lt;b&gt;")
	require.Contains(t, body, "pay &lt;script&gt;")
	require.NotContains(t, body, "<script>")
	require.NotContains(t, body, "10.0.0.1", "neither URLs nor error texts")
	require.NotContains(t, body, "secret host")
	require.Contains(t, body, `data-since="77"`)
	require.Contains(t, body, "1 of 2 services down")
	require.Equal(t, 3, strings.Count(body, `class="service"`), "search carries both tags: in both sections")
	require.Equal(t, 3*Days, strings.Count(body, `class="bar bar-`))
	require.Contains(t, body, `class="bar bar-down" title="2026-12-01: 90.00% uptime (100 checks)"`, "90% is below 95%")
	require.Contains(t, body, `class="bar bar-partial" title="2026-11-29: 97.00% uptime (100 checks)"`)
	require.Contains(t, body, `class="bar bar-down"`)
	require.Contains(t, body, `title="2026-11-30: 99.90% uptime (1000 checks)"`)
	require.Contains(t, body, `class="bar bar-up" title="2026-09-03: 100.00% uptime (100 checks)"`, "the oldest of 90 days")
	require.Contains(t, body, "no data")
	require.Contains(t, body, "<h2>pay</h2>")

	// Bars are cached per page for the TTL.
	get(mux, "/status/acme")
	require.Equal(t, 1, st.dailyHits)

	rec = get(mux, "/status/k8s")
	require.Contains(t, rec.Body.String(), "<h2>Services</h2>", "a page without tags has one section")
	require.Contains(t, rec.Body.String(), "All systems operational")
}

func TestPageVisibility(t *testing.T) {
	st, _, mux := newFixture()
	rec := get(mux, "/status/hidden")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Basic")
	rec = get(mux, "/status/hidden", "X-Test-Auth", "yes")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "private, no-store", rec.Header().Get("Cache-Control"))
	require.Contains(t, rec.Body.String(), "does not show any services yet")
	require.Equal(t, http.StatusNotFound, get(mux, "/status/nope").Code)
	require.Equal(t, http.StatusNotFound, get(mux, "/status/Not_A_Slug").Code)
	st.err = errors.New("db down")
	require.Equal(t, http.StatusInternalServerError, get(mux, "/status/acme").Code)
	require.Equal(t, http.StatusNotFound, get(mux, "/ws/status/acme").Code, "no feed without Live")
}

func TestLiveFeedIsScopedToThePage(t *testing.T) {
	st, _, _ := newFixture()
	var allow func(string) bool
	h := New(Config{Store: st, Live: func(w http.ResponseWriter, _ *http.Request, a func(string) bool) {
		allow = a
		w.WriteHeader(http.StatusSwitchingProtocols)
	}})
	mux := http.NewServeMux()
	h.Register(mux)
	require.Equal(t, http.StatusSwitchingProtocols, get(mux, "/ws/status/acme").Code)
	require.True(t, allow("a"))
	require.True(t, allow("b"))
	require.False(t, allow("c"), "another page's service")
	require.Equal(t, http.StatusUnauthorized, get(mux, "/ws/status/hidden").Code, "nobody is authenticated by default")
}

func TestAssets(t *testing.T) {
	_, _, mux := newFixture()
	rec := get(mux, "/status-assets/status.js")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/javascript; charset=utf-8", rec.Header().Get("Content-Type"))
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, http.StatusNotModified, get(mux, "/status-assets/status.js", "If-None-Match", etag).Code)
	require.Equal(t, "text/css; charset=utf-8", get(mux, "/status-assets/status.css").Header().Get("Content-Type"))
	require.Equal(t, http.StatusNotFound, get(mux, "/status-assets/other.js").Code)
}

func TestUptimeCacheExpires(t *testing.T) {
	st, _, _ := newFixture()
	clock := now
	h := New(Config{Store: st, Now: func() time.Time { return clock }, UptimeTTL: time.Minute})
	ctx := context.Background()
	_, err := h.dailyUptime(ctx, "p1", []string{"a"})
	require.NoError(t, err)
	_, err = h.dailyUptime(ctx, "p1", []string{"a"})
	require.NoError(t, err)
	require.Equal(t, 1, st.dailyHits)
	_, err = h.dailyUptime(ctx, "p1", []string{"a", "b"})
	require.NoError(t, err)
	require.Equal(t, 2, st.dailyHits, "a changed selection is read afresh")
	clock = clock.Add(2 * time.Minute)
	_, err = h.dailyUptime(ctx, "p1", []string{"a", "b"})
	require.NoError(t, err)
	require.Equal(t, 3, st.dailyHits, "and so is an old one")
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		p     Page
		field string
	}{
		{Page{Slug: "ok-1", Title: "T", Tags: []string{"x"}}, ""},
		{Page{Slug: "", Title: "T", Tags: []string{"x"}}, "slug"},
		{Page{Slug: long, Title: "T", Tags: []string{"x"}}, "slug"},
		{Page{Slug: "-a", Title: "T", Tags: []string{"x"}}, "slug"},
		{Page{Slug: "a-", Title: "T", Tags: []string{"x"}}, "slug"},
		{Page{Slug: "A", Title: "T", Tags: []string{"x"}}, "slug"},
		{Page{Slug: "a", Title: " ", Tags: []string{"x"}}, "title"},
		{Page{Slug: "a", Title: "a\x00", Tags: []string{"x"}}, "title"},
		{Page{Slug: "a", Title: strings.Repeat("é", 201), Tags: []string{"x"}}, "title"},
		{Page{Slug: "a", Title: "T"}, "tags"},
		{Page{Slug: "a", Title: "T", Tags: []string{""}}, "tags[0]"},
	} {
		err := tc.p.Validate(true)
		if tc.field == "" {
			require.NoError(t, err)
			continue
		}
		fe, ok := check.AsFieldError(err)
		require.True(t, ok, "%+v: %v", tc.p, err)
		require.Equal(t, tc.field, fe.Field)
	}
	require.NoError(t, (&Page{Slug: "a", Title: "T"}).Validate(false), "a Kubernetes page may select by labels alone")
}
