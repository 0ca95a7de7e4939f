package statuspage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"path"
	"time"
)

type asset struct {
	body        []byte
	contentType string
	etag        string
}

// assets are the page's script and styles, read once from the binary.
var assets = loadAssets()

func loadAssets() map[string]asset {
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	out := map[string]asset{}
	for _, name := range []string{"status.js", "status.css"} {
		body, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			panic("statuspage: " + err.Error()) // compiled in: every test catches it first
		}
		sum := sha256.Sum256(body)
		out[name] = asset{body: body, contentType: types[path.Ext(name)], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return out
}

// serveAsset answers GET /status-assets/{file}, revalidated by ETag.
func serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
