package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
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
	for _, seed := range []string{
		`{"name":"a\u0000","url":"http://a.example","interval_seconds":5}`,
		`{"name":"a","url":"http://a.example/\u0000","interval_seconds":5}`,
		`{"name":"a","url":"http://a.example","interval_seconds":5,"tags":["\u0000"]}`,
		`{"name":"a","type":"grpc","url":"grpc://a:1","interval_seconds":5,"grpc_service":"\u0000"}`,
		"{\"name\":\"a\xff\",\"url\":\"http://a.example\",\"interval_seconds\":5}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range []struct{ method, path string }{
			{http.MethodPost, "/api/v1/services"},
			{http.MethodPatch, "/api/v1/services/" + existing},
		} {
			req := httptest.NewRequest(target.method, target.path, strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
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
	for _, seed := range []string{"tag=%00", "tag=%ff", "status=%00", "cursor=%00", "cursor=c%ff", "limit=%00", "window=%00", "%00=1"} {
		f.Add(seed)
	}
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

// FuzzPathID feeds arbitrary ids to every route that takes one, with
// every method it serves: an id the store cannot even look up (NUL,
// invalid UTF-8) is a 400 or a 404, never a 5xx.
func FuzzPathID(f *testing.F) {
	reg := newFakeRegistry(func() time.Time { return testNow })
	srv := New(Config{Registry: reg})
	id := reg.mustCreate(f, "payments")
	for _, seed := range []string{id, "\x00", "svc-1\x00", "\xff", "\u0085", "..", "%", " "} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		base := "/api/v1/services/" + url.PathEscape(id)
		for _, target := range []struct{ method, path, body string }{
			{http.MethodGet, base, ""},
			{http.MethodPatch, base, `{"tags":["a"]}`},
			{http.MethodPost, base + "/pause", ""},
			{http.MethodPost, base + "/resume", ""},
			{http.MethodGet, base + "/results", ""},
			{http.MethodGet, base + "/transitions", ""},
			{http.MethodGet, base + "/uptime", ""},
			{http.MethodDelete, base, ""},
		} {
			u, err := url.Parse(target.path)
			if err != nil {
				t.Fatalf("escaped path %q does not parse: %v", target.path, err)
			}
			req := httptest.NewRequest(target.method, "/", strings.NewReader(target.body))
			req.URL, req.RequestURI = u, u.RequestURI()
			if target.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %s answered %d: %s", target.method, target.path, rec.Code, rec.Body)
			}
		}
	})
}
