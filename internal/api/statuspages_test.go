package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// fakePages is an in-memory StatusPages with unique slugs.
type fakePages struct {
	mu    sync.Mutex
	pages map[string]registry.StatusPage
	n     int
	err   error
}

func (f *fakePages) CreateStatusPage(_ context.Context, p registry.StatusPage) (registry.StatusPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return registry.StatusPage{}, f.err
	}
	for _, o := range f.pages {
		if o.Slug == p.Slug {
			return registry.StatusPage{}, registry.ErrSlugTaken
		}
	}
	f.n++
	if p.ID == "" {
		p.ID = "page-" + strconv.Itoa(f.n)
	}
	p.CreatedAt, p.UpdatedAt = testNow, testNow
	f.pages[p.ID] = p
	return p, nil
}

func (f *fakePages) GetStatusPage(_ context.Context, id string) (registry.StatusPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pages[id]
	if !ok {
		return registry.StatusPage{}, registry.ErrNotFound
	}
	return p, nil
}

func (f *fakePages) ListStatusPages(context.Context) ([]registry.StatusPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := []registry.StatusPage{}
	for _, p := range f.pages {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}

func (f *fakePages) UpdateStatusPage(_ context.Context, id string, mutate func(*registry.StatusPage) error) (registry.StatusPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pages[id]
	if !ok {
		return registry.StatusPage{}, registry.ErrNotFound
	}
	if err := mutate(&p); err != nil {
		return registry.StatusPage{}, err
	}
	for oid, o := range f.pages {
		if oid != id && o.Slug == p.Slug {
			return registry.StatusPage{}, registry.ErrSlugTaken
		}
	}
	f.pages[id] = p
	return p, nil
}

func (f *fakePages) DeleteStatusPage(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pages[id]; !ok {
		return registry.ErrNotFound
	}
	delete(f.pages, id)
	return nil
}

func pagesHarness(t *testing.T, readOnly bool) (*harness, *fakePages) {
	pages := &fakePages{pages: map[string]registry.StatusPage{}}
	h := newHarness(t, func(c *Config) { c.StatusPages = pages; c.ReadOnly = readOnly })
	return h, pages
}

func TestStatusPagesCRUD(t *testing.T) {
	h, pages := pagesHarness(t, false)
	resp := h.do(http.MethodPost, "/api/v1/status-pages", `{"slug":"acme","title":"Acme","tags":["prod"],"public":true}`)
	require.Equal(t, http.StatusCreated, resp.status, "%s", resp.body)
	created := resp.json(t)
	id := created["id"].(string)
	require.Equal(t, "/api/v1/status-pages/"+id, resp.header.Get("Location"))
	require.Equal(t, map[string]any{"id": id, "slug": "acme", "title": "Acme", "tags": []any{"prod"}, "public": true,
		"source": "api", "url": "/status/acme", "created_at": formatTime(testNow), "updated_at": formatTime(testNow)}, created)

	requireError(t, h.do(http.MethodPost, "/api/v1/status-pages", `{"slug":"acme","title":"Again","tags":["x"]}`),
		http.StatusConflict, CodeSlugTaken, "slug")
	resp = h.do(http.MethodGet, "/api/v1/status-pages/"+id, "")
	require.Equal(t, http.StatusOK, resp.status)
	resp = h.do(http.MethodGet, "/api/v1/status-pages", "")
	require.Len(t, resp.json(t)["items"], 1)

	resp = h.do(http.MethodPatch, "/api/v1/status-pages/"+id, `{"public":false}`)
	require.Equal(t, http.StatusOK, resp.status, "%s", resp.body)
	require.Equal(t, false, resp.json(t)["public"])
	require.Equal(t, "Acme", resp.json(t)["title"], "what PATCH does not name stays")
	requireError(t, h.do(http.MethodPatch, "/api/v1/status-pages/"+id, `{"tags":[]}`), http.StatusBadRequest, CodeInvalidField, "tags")
	requireError(t, h.do(http.MethodPatch, "/api/v1/status-pages/nope", `{"public":false}`), http.StatusNotFound, CodeNotFound, "")

	pages.pages["k8s"] = registry.StatusPage{ID: "k8s", Slug: "k8s", Title: "K", Source: check.SourceKubernetes, ServiceIDs: []string{"a"}}
	resp = h.do(http.MethodGet, "/api/v1/status-pages/k8s", "")
	require.Equal(t, []any{"a"}, resp.json(t)["service_ids"])
	requireError(t, h.do(http.MethodPatch, "/api/v1/status-pages/k8s", `{"public":true}`), http.StatusForbidden, CodeReadOnly, "")
	requireError(t, h.do(http.MethodDelete, "/api/v1/status-pages/k8s", ""), http.StatusForbidden, CodeReadOnly, "")

	require.Equal(t, http.StatusNoContent, h.do(http.MethodDelete, "/api/v1/status-pages/"+id, "").status)
	requireError(t, h.do(http.MethodDelete, "/api/v1/status-pages/"+id, ""), http.StatusNotFound, CodeNotFound, "")

	pages.err = errors.New("db down")
	requireError(t, h.do(http.MethodGet, "/api/v1/status-pages", ""), http.StatusInternalServerError, CodeInternal, "")
}

func TestStatusPageValidation(t *testing.T) {
	h, _ := pagesHarness(t, false)
	for body, field := range map[string]string{
		`{"title":"T","tags":["x"]}`:                          "slug",
		`{"slug":"Bad Slug","title":"T","tags":["x"]}`:        "slug",
		`{"slug":"ok","tags":["x"]}`:                          "title",
		`{"slug":"ok","title":"T"}`:                           "tags",
		`{"slug":"ok","title":"T","tags":["x"],"extra":1}`:    "extra",
		`{"slug":"ok","title":"T","tags":"x"}`:                "tags",
		`{"slug":"ok","title":"T","tags":["x"],"public":"y"}`: "public",
	} {
		requireError(t, h.do(http.MethodPost, "/api/v1/status-pages", body), http.StatusBadRequest, CodeInvalidField, field)
	}
	requireError(t, h.do(http.MethodPost, "/api/v1/status-pages", `[]`), http.StatusBadRequest, CodeInvalidJSON, "")
	requireError(t, h.do(http.MethodPatch, "/api/v1/status-pages/x", `{`), http.StatusBadRequest, CodeInvalidJSON, "")
}

func TestStatusPagesReadOnlyAndAbsent(t *testing.T) {
	h, _ := pagesHarness(t, true)
	requireError(t, h.do(http.MethodPost, "/api/v1/status-pages", `{"slug":"a","title":"T","tags":["x"]}`),
		http.StatusForbidden, CodeReadOnly, "")
	require.Equal(t, http.StatusOK, h.do(http.MethodGet, "/api/v1/status-pages", "").status, "reads still work")

	bare := newHarness(t)
	requireError(t, bare.do(http.MethodGet, "/api/v1/status-pages", ""), http.StatusNotFound, CodeNotFound, "")
}
