package badge

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type fakeStore struct {
	svcs    map[string]registry.Service
	public  map[string]bool
	uptime  registry.Uptime
	window  time.Duration
	err     error
	pageErr error
}

func (f *fakeStore) GetService(_ context.Context, id string) (registry.Service, error) {
	if f.err != nil {
		return registry.Service{}, f.err
	}
	sv, ok := f.svcs[id]
	if !ok {
		return registry.Service{}, registry.ErrNotFound
	}
	return sv, nil
}

func (f *fakeStore) Uptime(_ context.Context, _ string, since, until time.Time) (registry.Uptime, error) {
	f.window = until.Sub(since)
	return f.uptime, nil
}

func (f *fakeStore) OnPublicStatusPage(_ context.Context, id string) (bool, error) {
	return f.public[id], f.pageErr
}

func fixture() (*fakeStore, *http.ServeMux) {
	st := &fakeStore{
		svcs: map[string]registry.Service{
			"pub": {Check: check.Check{ID: "pub", Name: `a<b>&"c"`}, State: check.Snapshot{State: check.StateUp,
				LastCheckedAt: now, LastLatency: 4200 * time.Microsecond}},
			"priv": {Check: check.Check{ID: "priv", Name: "private"}, State: check.Snapshot{State: check.StateDown}},
		},
		public: map[string]bool{"pub": true},
		uptime: registry.Uptime{Checks: 1000, Failures: 1},
	}
	mux := http.NewServeMux()
	New(Config{Store: st, Now: func() time.Time { return now }, Authenticated: func(r *http.Request) bool {
		return r.Header.Get("X-Auth") == "yes"
	}}).Register(mux)
	return st, mux
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

// parse requires body to be well-formed XML with an svg root and returns
// its text content.
func parse(t *testing.T, body []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(body))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s", body)
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Local
			}
		case xml.CharData:
			text.Write(v)
			text.WriteByte('|')
		}
	}
	require.Equal(t, "svg", root)
	return text.String()
}

func TestBadges(t *testing.T) {
	st, mux := fixture()
	for path, want := range map[string]string{
		"/badges/pub/status.svg":            `a<b>&"c": UP|status|UP|`,
		"/badges/pub/latency.svg":           "latency|4.2 ms|",
		"/badges/pub/uptime.svg":            "uptime 7d|99.90%|",
		"/badges/pub/uptime.svg?window=30d": "uptime 30d|99.90%|",
		"/badges/pub/uptime.svg?window=36h": "uptime 36h|99.90%|",
	} {
		rec := get(mux, path)
		require.Equal(t, http.StatusOK, rec.Code, path)
		require.Equal(t, "public, max-age=60", rec.Header().Get("Cache-Control"))
		require.Equal(t, "image/svg+xml; charset=utf-8", rec.Header().Get("Content-Type"))
		require.Contains(t, parse(t, rec.Body.Bytes()), want, path)
	}
	get(mux, "/badges/pub/uptime.svg?window=36h")
	require.Equal(t, 36*time.Hour, st.window, "the window ends now")

	rec := get(mux, "/badges/pub/status.svg")
	require.NotContains(t, rec.Body.String(), "<b>", "text is escaped")
	etag := rec.Header().Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, http.StatusNotModified, get(mux, "/badges/pub/status.svg", "If-None-Match", etag).Code)
}

func TestBadgeVisibility(t *testing.T) {
	st, mux := fixture()
	require.Equal(t, http.StatusNotFound, get(mux, "/badges/priv/status.svg").Code, "no public page shows it")
	require.Equal(t, http.StatusNotFound, get(mux, "/badges/nope/status.svg").Code, "the same answer as a missing id")
	rec := get(mux, "/badges/priv/status.svg", "X-Auth", "yes")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "private, max-age=60", rec.Header().Get("Cache-Control"))
	require.Contains(t, parse(t, rec.Body.Bytes()), "DOWN")
	require.Contains(t, rec.Body.String(), ColorDown)
	require.Equal(t, http.StatusNotFound, get(mux, "/badges/nope/status.svg", "X-Auth", "yes").Code)
	require.Equal(t, http.StatusNotFound, get(mux, "/badges/pub/other.svg").Code)
	require.Equal(t, http.StatusNotFound, get(mux, "/badges/"+strings.Repeat("a", 200)+"/status.svg").Code)
	for _, w := range []string{"0d", "91d", "+1d", "30s", "forever", "-1h", "91d"} {
		rec := get(mux, "/badges/pub/uptime.svg?window="+w)
		require.Equal(t, http.StatusBadRequest, rec.Code, w)
		require.Contains(t, rec.Body.String(), "window")
	}
	st.pageErr = errors.New("db down")
	require.Equal(t, http.StatusInternalServerError, get(mux, "/badges/pub/status.svg").Code)
	st.pageErr, st.err = nil, errors.New("db down")
	require.Equal(t, http.StatusInternalServerError, get(mux, "/badges/pub/status.svg").Code)
}

func TestBadgeMessages(t *testing.T) {
	svc := registry.Service{Check: check.Check{Name: "x"}}
	require.Equal(t, "no data", latencyBadge(svc).Message)
	for lat, color := range map[time.Duration]string{50 * time.Millisecond: ColorUp, 400 * time.Millisecond: ColorWarn, 2 * time.Second: ColorDown} {
		svc.State = check.Snapshot{LastCheckedAt: now, LastLatency: lat}
		require.Equal(t, color, latencyBadge(svc).Color, lat)
	}
	require.Equal(t, "no data", uptimeBadge(svc, registry.Uptime{}, "7d").Message)
	require.Equal(t, ColorWarn, uptimeBadge(svc, registry.Uptime{Checks: 100, Failures: 2}, "7d").Color)
	require.Equal(t, ColorDown, uptimeBadge(svc, registry.Uptime{Checks: 100, Failures: 50}, "7d").Color)
	for st, color := range map[check.State]string{check.StateUp: ColorUp, check.StateDown: ColorDown, check.StatePaused: ColorPaused, check.StateUnknown: ColorUnknown} {
		svc.State = check.Snapshot{State: st}
		require.Contains(t, string(statusBadge(svc).SVG()), color)
	}
	long := Badge{Label: strings.Repeat("é", 100), Message: "m", Color: "red\"/><script>", Title: "t"}.SVG()
	text := parse(t, long)
	require.Contains(t, text, "…", "long text is clipped")
	require.NotContains(t, string(long), "script", "only known colours")
}
