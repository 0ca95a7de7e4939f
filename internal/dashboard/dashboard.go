// Package dashboard serves Vigil's live web dashboard: one HTML page plus
// hand-written ES modules and CSS, embedded in the binary so that neither
// building nor running Vigil needs a Node toolchain or a CDN.
//
// The page talks to the REST API (/api/v1) and the WebSocket (/ws) with
// relative URLs, so it works the same behind a path-prefix proxy. Mount the
// handler for every path the API does not own, e.g. with api.Config.Extra:
//
//	Extra: func(mux *http.ServeMux) { mux.Handle("/", dashboard.Handler()) }
package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed static
var staticFS embed.FS

// versionPlaceholder in index.html is replaced by the asset version, which
// makes every asset URL (and, through relative imports, every module URL)
// change whenever any asset changes. That lets browsers cache assets for a
// year without ever running a stale mix after an upgrade.
const versionPlaceholder = "__ASSET_VERSION__"

// Cache policies. The page itself is revalidated on every load (cheap:
// ETag), versioned assets are immutable, and an asset fetched without the
// current version (an old page after an upgrade, or a hand-typed URL) is
// revalidated like the page.
const (
	cacheRevalidate = "no-cache"
	cacheImmutable  = "public, max-age=31536000, immutable"
)

// contentSecurityPolicy allows nothing but this origin: no inline script or
// style, no third-party hosts. 'self' covers same-origin ws:/wss: in CSP 3.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// contentTypes is explicit for what the page ships, so the answer does not
// depend on the host's /etc/mime.types (some map .js to text/plain, which
// browsers refuse for modules under nosniff).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

// asset is one file ready to serve, plain and gzipped.
type asset struct {
	name        string
	contentType string
	body        []byte
	gzipped     []byte // nil when gzip would not make it smaller
	etag        string
}

type handler struct {
	index   *asset
	assets  map[string]*asset
	version string
	mux     *http.ServeMux
}

// Handler serves the dashboard: GET / is the page and GET /assets/… its
// modules, styles and icon. Any other path is 404, so the handler can be
// mounted as a catch-all.
func Handler() http.Handler {
	h, err := newHandler(staticFS)
	if err != nil {
		// The files are compiled in; failing here means the build is broken,
		// which every test of this package would catch first.
		panic(fmt.Sprintf("dashboard: %v", err))
	}
	return h
}

func newHandler(fsys fs.FS) (*handler, error) {
	root, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("open static: %w", err)
	}
	files := map[string][]byte{}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		files[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk static: %w", err)
	}
	page, ok := files["index.html"]
	if !ok {
		return nil, errors.New("static/index.html is missing")
	}
	delete(files, "index.html")

	h := &handler{assets: map[string]*asset{}, version: version(files)}
	for name, body := range files {
		a, err := newAsset(name, body)
		if err != nil {
			return nil, err
		}
		h.assets[name] = a
	}
	if h.index, err = newAsset("index.html", bytes.ReplaceAll(page, []byte(versionPlaceholder), []byte(h.version))); err != nil {
		return nil, err
	}

	h.mux = http.NewServeMux()
	// GET patterns match HEAD too.
	h.mux.HandleFunc("GET /{$}", h.serveIndex)
	h.mux.HandleFunc("GET /assets/{path...}", h.serveAsset)
	return h, nil
}

// version is a short hash of every asset's name and content.
func version(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	sum := sha256.New()
	for _, n := range names {
		fmt.Fprintf(sum, "%s\x00%d\x00", n, len(files[n]))
		sum.Write(files[n])
	}
	return hex.EncodeToString(sum.Sum(nil))[:12]
}

func newAsset(name string, body []byte) (*asset, error) {
	ext := path.Ext(name)
	ct, ok := contentTypes[ext]
	if !ok {
		if ct = mime.TypeByExtension(ext); ct == "" {
			return nil, fmt.Errorf("no content type for %s", name)
		}
	}
	sum := sha256.Sum256(body)
	a := &asset{name: name, contentType: ct, body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(body)                                    // writes to a bytes.Buffer cannot fail
	_ = zw.Close()
	if buf.Len() < len(body) {
		a.gzipped = buf.Bytes()
	}
	return a, nil
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	serve(w, r, h.index, cacheRevalidate)
}

// serveAsset answers /assets/<version>/<file> (immutable when the version
// is current) and /assets/<file>.
func (h *handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	cache := cacheRevalidate
	if v, rest, ok := strings.Cut(p, "/"); ok && v == h.version {
		p, cache = rest, cacheImmutable
	} else if ok && isVersion(v) {
		// A page from before an upgrade asks for its own version: serve
		// today's file, but never let it be cached under the old URL.
		p = rest
	}
	a, ok := h.assets[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	serve(w, r, a, cache)
}

// isVersion reports whether s looks like a version segment (12 hex digits)
// rather than a directory of assets.
func isVersion(s string) bool {
	if len(s) != 12 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// serve writes a with conditional-request, range and gzip support.
func serve(w http.ResponseWriter, r *http.Request, a *asset, cache string) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", cache)
	hdr.Set("X-Content-Type-Options", "nosniff")
	body, etag := a.body, a.etag
	if a.gzipped != nil {
		hdr.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			// A distinct ETag: the two encodings are different bytes.
			body, etag = a.gzipped, strings.TrimSuffix(a.etag, `"`)+`-gz"`
			hdr.Set("Content-Encoding", "gzip")
		}
	}
	hdr.Set("ETag", etag)
	// A zero modtime leaves Last-Modified out; the ETag does the work.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip
// with a non-zero quality.
func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
