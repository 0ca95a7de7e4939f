package auth

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAuthorization(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		header string
		want   credential
		err    error
	}{
		{"Bearer abc", credential{kind: kindBearer, token: "abc"}, nil},
		{"  BEARER   abc  ", credential{kind: kindBearer, token: "abc"}, nil},
		{"Bearer a b", credential{}, errMalformed},
		{"Bearer", credential{}, errMalformed},
		{"Bearer    ", credential{}, errMalformed},
		{"Basic " + b64("alice:pw:with:colons"), credential{kind: kindBasic, user: "alice", password: "pw:with:colons"}, nil},
		{"basic " + b64(":"), credential{kind: kindBasic}, nil},
		{"Basic " + b64("alice"), credential{}, errMalformed},
		{"Basic ***", credential{}, errMalformed},
		{"Basic", credential{}, errMalformed},
		{"Digest x", credential{}, errUnsupported},
		{"tokenwithoutscheme", credential{}, errUnsupported},
		{"", credential{}, errUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := parseAuthorization(tt.header)
			require.ErrorIs(t, err, tt.err)
			require.Equal(t, tt.want, got)
		})
	}
}

// FuzzParseAuthorization feeds arbitrary header values to the parser: it
// must never panic, and what it accepts must be usable and round-trip.
func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []string{
		"Bearer abc", "bearer  x.y.z", "Basic YWxpY2U6cHc=", "Basic Og==", "Basic ====", "Basic",
		"Bearer a b", "Digest realm=x", "", " ", "Bearer \x00", "Basic " + strings.Repeat("A", 1000),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := parseAuthorization(h)
		if err != nil {
			require.Equal(t, credential{}, c, "a refused header yields no credential")
			return
		}
		switch c.kind {
		case kindBearer:
			require.NotEmpty(t, c.token)
			require.False(t, strings.ContainsAny(c.token, " \t"))
			require.Equal(t, strings.TrimSpace(c.token), c.token)
			again, err := parseAuthorization("Bearer " + c.token)
			require.NoError(t, err)
			require.Equal(t, c, again)
		case kindBasic:
			require.NotContains(t, c.user, ":", "the user ends at the first colon")
			again, err := parseAuthorization("Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.password)))
			require.NoError(t, err)
			require.Equal(t, c, again)
		default:
			t.Fatalf("accepted header %q with no kind", h)
		}
	})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		method, path string
		want         route
	}{
		{"GET", "/api/v1/services", routeRead},
		{"OPTIONS", "/api/v1/services", routeRead},
		{"DELETE", "/api/v1/services/x", routeWrite},
		{"GET", "/api/", routeRead},
		{"GET", "/ws", routeWebSocket},
		{"GET", "/ws/", routeWebSocket},
		{"GET", "//ws", routeWebSocket},
		{"POST", "/ws", routeWebSocket},
		{"GET", "/x/../../api/v1", routeRead},
		{"GET", "api/v1", routeRead},
		{"GET", "", routeOpen},
		{"GET", "/healthz", routeOpen},
		{"POST", "/metrics", routeOpen},
		{"GET", "/app.js", routeOpen},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			require.Equal(t, tt.want, classify(request(tt.method, tt.path)))
		})
	}
}

// FuzzClassify checks classify against an independent oracle: a ServeMux
// with the API's and the WebSocket's patterns. Whatever spelling of a path
// the mux would hand to those handlers (rather than redirect or 404) must
// never be classified open, and API writes must be writes.
func FuzzClassify(f *testing.F) {
	for _, p := range []string{"/api/v1/services", "/./api", "//api//v1", "/a/../api/v1", "/apix", "/ws", "/static/../ws", "/API/v1", "/ws/x"} {
		f.Add(uint8(0), p)
		f.Add(uint8(1), p)
	}
	methods := []string{"GET", "POST", "HEAD", "DELETE", "PATCH", "PUT", "OPTIONS", "PURGE"}
	mux := http.NewServeMux()
	for _, pattern := range []string{"/api", "/api/", "/ws", "/ws/"} {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Hit", pattern) })
	}
	f.Fuzz(func(t *testing.T, m uint8, p string) {
		method := methods[int(m)%len(methods)]
		r := request(method, p)
		got := classify(r)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		hit := rec.Header().Get("X-Hit")
		switch {
		case strings.HasPrefix(hit, "/api"):
			require.NotEqual(t, routeOpen, got, "%s %q reaches the API", method, p)
			if method != "GET" && method != "HEAD" && method != "OPTIONS" {
				require.Equal(t, routeWrite, got)
			}
		case strings.HasPrefix(hit, "/ws"):
			require.Equal(t, routeWebSocket, got, "%s %q reaches the WebSocket", method, p)
		}
	})
}

func request(method, p string) *http.Request {
	return &http.Request{Method: method, URL: &url.URL{Path: p}, Header: http.Header{}, Host: "vigil"}
}
