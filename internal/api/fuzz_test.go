package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzCreateService feeds arbitrary bodies to POST and PATCH: whatever a
// client sends, the answer is never a 5xx, and a patch never stores a
// check that fails validation. Seeds live in testdata/fuzz.
func FuzzCreateService(f *testing.F) {
	reg := newFakeRegistry(func() time.Time { return testNow })
	srv := New(Config{Registry: reg})
	existing := reg.mustCreate(f, "existing")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range []struct{ method, path string }{
			{http.MethodPost, "/api/v1/services"},
			{http.MethodPatch, "/api/v1/services/" + existing},
		} {
			req := httptest.NewRequest(target.method, target.path, strings.NewReader(string(body)))
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s answered %d to %q: %s", target.method, target.path, rec.Code, body, rec.Body)
			}
		}
		svc, err := reg.GetService(t.Context(), existing)
		if err != nil {
			t.Fatalf("existing service vanished: %v", err)
		}
		if err := svc.Validate(); err != nil {
			t.Fatalf("a patch stored an invalid check: %v", err)
		}
	})
}

// FuzzQueryParams feeds arbitrary query strings to every route that reads
// one: a bad parameter is a 400, never a 5xx.
func FuzzQueryParams(f *testing.F) {
	reg := newFakeRegistry(func() time.Time { return testNow })
	srv := New(Config{Registry: reg})
	id := reg.mustCreate(f, "payments")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		for _, path := range []string{
			"/api/v1/services",
			"/api/v1/services/" + id + "/results",
			"/api/v1/services/" + id + "/transitions",
			"/api/v1/services/" + id + "/uptime",
		} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = rawQuery
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("GET %s?%s answered %d: %s", path, rawQuery, rec.Code, rec.Body)
			}
		}
	})
}
