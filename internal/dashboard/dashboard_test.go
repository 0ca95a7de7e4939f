package dashboard

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func testHandler(t *testing.T) *handler {
	t.Helper()
	h, ok := Handler().(*handler)
	require.True(t, ok)
	return h
}

// assetRefs are the asset URLs the page loads, in document order.
var assetRef = regexp.MustCompile(`(?:href|src)="(assets/[^"]+)"`)

func TestIndex(t *testing.T) {
	h := testHandler(t)
	rec := get(t, h, http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Equal(t, "no-cache", rec.Header().Get("Cache-Control"), "the page must be revalidated so upgrades show at once")
	require.NotEmpty(t, rec.Header().Get("ETag"))
	require.Contains(t, rec.Header().Get("Content-Security-Policy"), "script-src 'self'")
	require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))

	body := rec.Body.String()
	require.NotContains(t, body, versionPlaceholder)
	refs := assetRef.FindAllStringSubmatch(body, -1)
	var got []string
	for _, m := range refs {
		got = append(got, m[1])
	}
	v := h.version
	require.Equal(t, []string{
		"assets/" + v + "/favicon.svg",
		"assets/" + v + "/style.css",
		"assets/" + v + "/app.js",
		"assets/" + v + "/api.js",
		"assets/" + v + "/live.js",
		"assets/" + v + "/view.js",
		"assets/" + v + "/detail.js",
	}, got)
	// Every module app.js imports is preloaded with it, so the imports do
	// not cost a round trip after app.js arrives.
	for _, m := range regexp.MustCompile(`(?m)^import .* from '\./([^']+)';$`).FindAllStringSubmatch(string(h.assets["app.js"].body), -1) {
		require.Contains(t, body, `<link rel="modulepreload" href="assets/`+v+`/`+m[1]+`">`)
	}
	require.Contains(t, body, `<script type="module"`)
	// The contracts the page's scripts rely on are in the markup.
	for _, id := range []string{`id="rows"`, `id="connection"`, `aria-live="polite"`, `id="login-form"`, `<th scope="col"`} {
		require.Contains(t, body, id)
	}
}

func TestIndexReferencesResolve(t *testing.T) {
	h := testHandler(t)
	body := get(t, h, http.MethodGet, "/", nil).Body.String()
	for _, m := range assetRef.FindAllStringSubmatch(body, -1) {
		rec := get(t, h, http.MethodGet, "/"+m[1], nil)
		require.Equal(t, http.StatusOK, rec.Code, m[1])
	}
}

// Modules import each other with relative URLs, so every import must name a
// file that is served next to the importer.
func TestModuleImportsResolve(t *testing.T) {
	h := testHandler(t)
	importRe := regexp.MustCompile(`(?m)^import .* from '\./([^']+)';$`)
	imports := 0
	for name, a := range h.assets {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range importRe.FindAllStringSubmatch(string(a.body), -1) {
			imports++
			_, ok := h.assets[m[1]]
			require.True(t, ok, "%s imports %s, which is not served", name, m[1])
		}
	}
	require.GreaterOrEqual(t, imports, 3, "app.js imports the other modules")
}

// Server strings must reach the page as text only.
func TestScriptsNeverWriteMarkup(t *testing.T) {
	h := testHandler(t)
	banned := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function`)
	for name, a := range h.assets {
		if strings.HasSuffix(name, ".js") {
			require.Nil(t, banned.Find(a.body), "%s writes markup", name)
		}
	}
}

func TestAssets(t *testing.T) {
	h := testHandler(t)
	v := h.version
	tests := []struct {
		name        string
		method      string
		path        string
		code        int
		contentType string
		cache       string
	}{
		{"versioned module", "GET", "/assets/" + v + "/app.js", 200, "text/javascript; charset=utf-8", cacheImmutable},
		{"versioned imported module", "GET", "/assets/" + v + "/live.js", 200, "text/javascript; charset=utf-8", cacheImmutable},
		{"versioned stylesheet", "GET", "/assets/" + v + "/style.css", 200, "text/css; charset=utf-8", cacheImmutable},
		{"versioned icon", "GET", "/assets/" + v + "/favicon.svg", 200, "image/svg+xml", cacheImmutable},
		{"unversioned asset is revalidated", "GET", "/assets/app.js", 200, "text/javascript; charset=utf-8", cacheNoCache()},
		{"old version is served but not cached", "GET", "/assets/0123456789ab/view.js", 200, "text/javascript; charset=utf-8", cacheNoCache()},
		{"head", "HEAD", "/assets/" + v + "/api.js", 200, "text/javascript; charset=utf-8", cacheImmutable},
		{"unknown asset", "GET", "/assets/" + v + "/nope.js", 404, "", ""},
		{"unknown unversioned asset", "GET", "/assets/nope.js", 404, "", ""},
		{"the page is not an asset", "GET", "/assets/index.html", 404, "", ""},
		{"assets root", "GET", "/assets/", 404, "", ""},
		{"unknown page", "GET", "/services", 404, "", ""},
		{"index under another name", "GET", "/index.html", 404, "", ""},
		{"write method", "POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.method, tt.path, nil)
			require.Equal(t, tt.code, rec.Code)
			if tt.code != 200 {
				require.Empty(t, rec.Header().Get("Cache-Control"))
				return
			}
			require.Equal(t, tt.contentType, rec.Header().Get("Content-Type"))
			require.Equal(t, tt.cache, rec.Header().Get("Cache-Control"))
			require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			if tt.method == "HEAD" {
				require.Zero(t, rec.Body.Len())
				require.NotEmpty(t, rec.Header().Get("Content-Length"))
			} else {
				require.NotZero(t, rec.Body.Len())
			}
		})
	}
}

func cacheNoCache() string { return cacheRevalidate }

func TestTraversalStaysInside(t *testing.T) {
	h := testHandler(t)
	for _, p := range []string{"/assets/../dashboard.go", "/assets/%2e%2e/dashboard.go", "/assets/" + h.version + "/../../go.mod"} {
		rec := get(t, h, http.MethodGet, p, nil)
		require.NotEqual(t, http.StatusOK, rec.Code, p)
		require.NotContains(t, rec.Body.String(), "package dashboard", p)
	}
}

func TestConditionalRequests(t *testing.T) {
	h := testHandler(t)
	for _, p := range []string{"/", "/assets/" + h.version + "/app.js"} {
		t.Run(p, func(t *testing.T) {
			first := get(t, h, http.MethodGet, p, nil)
			etag := first.Header().Get("ETag")
			require.Regexp(t, `^"[0-9a-f]{16}"$`, etag)

			again := get(t, h, http.MethodGet, p, map[string]string{"If-None-Match": etag})
			require.Equal(t, http.StatusNotModified, again.Code)
			require.Zero(t, again.Body.Len())

			changed := get(t, h, http.MethodGet, p, map[string]string{"If-None-Match": `"stale"`})
			require.Equal(t, http.StatusOK, changed.Code)
			require.Equal(t, first.Body.String(), changed.Body.String())
		})
	}
}

func TestGzip(t *testing.T) {
	h := testHandler(t)
	p := "/assets/" + h.version + "/app.js"
	plain := get(t, h, http.MethodGet, p, nil)
	require.Empty(t, plain.Header().Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", plain.Header().Get("Vary"))

	zipped := get(t, h, http.MethodGet, p, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	require.Equal(t, "gzip", zipped.Header().Get("Content-Encoding"))
	require.Equal(t, "text/javascript; charset=utf-8", zipped.Header().Get("Content-Type"))
	require.NotEqual(t, plain.Header().Get("ETag"), zipped.Header().Get("ETag"), "each encoding has its own ETag")
	require.Less(t, zipped.Body.Len(), plain.Body.Len())
	zr, err := gzip.NewReader(bytes.NewReader(zipped.Body.Bytes()))
	require.NoError(t, err)
	unzipped, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, plain.Body.Bytes(), unzipped)

	again := get(t, h, http.MethodGet, p, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": zipped.Header().Get("ETag")})
	require.Equal(t, http.StatusNotModified, again.Code)
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"deflate, gzip", true},
		{"gzip;q=0.5", true},
		{"gzip;q=0", false},
		{"gzip; q=0.000", false},
		{"br", false},
		{"x-gzip", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Accept-Encoding", tt.header)
			require.Equal(t, tt.want, acceptsGzip(r))
		})
	}
}

func TestVersion(t *testing.T) {
	a := map[string][]byte{"a.js": []byte("1"), "b.css": []byte("2")}
	v := version(a)
	require.True(t, isVersion(v))
	require.Equal(t, v, version(map[string][]byte{"b.css": []byte("2"), "a.js": []byte("1")}), "order does not matter")
	require.NotEqual(t, v, version(map[string][]byte{"a.js": []byte("1"), "b.css": []byte("3")}), "content matters")
	require.NotEqual(t, v, version(map[string][]byte{"a.js": []byte("12"), "b.css": []byte("")}), "boundaries matter")
	require.False(t, isVersion("app.js"))
	require.False(t, isVersion("0123456789xy"))
}

func TestSmallAssetsAreNotGzipped(t *testing.T) {
	h, err := newHandler(fstest.MapFS{
		"static/index.html": {Data: []byte(`<link href="assets/` + versionPlaceholder + `/a.css">`)},
		"static/a.css":      {Data: []byte("a{}")},
	})
	require.NoError(t, err)
	require.Nil(t, h.assets["a.css"].gzipped)
	rec := get(t, h, http.MethodGet, "/assets/"+h.version+"/a.css", map[string]string{"Accept-Encoding": "gzip"})
	require.Equal(t, "a{}", rec.Body.String())
	require.Empty(t, rec.Header().Get("Content-Encoding"))
	require.Empty(t, rec.Header().Get("Vary"))
	require.Contains(t, get(t, h, http.MethodGet, "/", nil).Body.String(), "assets/"+h.version+"/a.css")
}

func TestNewHandlerErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fs.FS
		want string
	}{
		{"no index", fstest.MapFS{"static/app.js": {Data: []byte("x")}}, "index.html is missing"},
		{"no static dir", fstest.MapFS{"other/index.html": {Data: []byte("x")}}, "walk static"},
		{"unknown type", fstest.MapFS{"static/index.html": {Data: []byte("x")}, "static/blob.zzz-unknown": {Data: []byte("x")}}, "no content type"},
		{"unreadable", brokenFS{}, "walk static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newHandler(tt.fsys)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// brokenFS fails every open.
type brokenFS struct{}

func (brokenFS) Open(string) (fs.File, error) { return nil, fs.ErrPermission }
