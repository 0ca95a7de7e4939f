package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/auth"
)

const (
	tokenOne  = "tok-1-2f9c8a7e5d4b"
	tokenTwo  = "tok-2-9b1e6c3a0f77"
	alicePW   = "wonder:land" // a colon in a password is legal
	wrongPass = "not-the-password"
)

func testConfig(protectReads bool) auth.Config {
	return auth.Config{
		Tokens:       []string{tokenOne, tokenTwo},
		Users:        map[string]string{"alice": alicePW, "bob": "builder"},
		ProtectReads: protectReads,
	}
}

// echo is the protected handler: it reports who the request authenticated
// as and what URL it saw.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Identity", auth.Identity(r.Context()))
	w.Header().Set("X-Raw-Query", r.URL.RawQuery)
	w.Header().Set("X-Request-Uri", r.RequestURI)
	w.WriteHeader(http.StatusOK)
})

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

type cred struct {
	name   string
	header string
	ok     bool
	id     string
}

var creds = []cred{
	{name: "none", header: ""},
	{name: "wrong bearer", header: "Bearer tok-1-wrong"},
	{name: "bearer prefix of a token", header: "Bearer tok-1"},
	{name: "right bearer", header: "Bearer " + tokenOne, ok: true, id: "token"},
	{name: "second bearer", header: "Bearer " + tokenTwo, ok: true, id: "token"},
	{name: "lowercase scheme", header: "bearer " + tokenTwo, ok: true, id: "token"},
	{name: "wrong basic password", header: basic("alice", wrongPass)},
	{name: "another user's password", header: basic("alice", "builder")},
	{name: "unknown basic user", header: basic("mallory", alicePW)},
	{name: "token as basic password", header: basic("alice", tokenOne)},
	{name: "right basic", header: basic("alice", alicePW), ok: true, id: "alice"},
	{name: "other basic user", header: basic("bob", "builder"), ok: true, id: "bob"},
	{name: "malformed basic", header: "Basic !!!not-base64"},
	{name: "basic without colon", header: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))},
	{name: "empty bearer", header: "Bearer "},
	{name: "unsupported scheme", header: "Digest username=alice"},
}

type routeCase struct {
	method, target string
}

var (
	writes = []routeCase{
		{"POST", "/api/v1/services"},
		{"PUT", "/api/v1/services/abc"},
		{"PATCH", "/api/v1/services/abc"},
		{"DELETE", "/api/v1/services/abc"},
		{"POST", "/api/v1/services/abc/pause"},
		{"POST", "/api/v1/services/abc/resume"},
		{"PURGE", "/api/v1/services"}, // unknown methods count as writes
		{"POST", "/dashboard/../api/v1/services"},
	}
	reads = []routeCase{
		{"GET", "/api/v1/services"},
		{"GET", "/api/v1/services?tag=prod"},
		{"GET", "/api/v1/services/abc/results?limit=5"},
		{"HEAD", "/api/v1/services/abc"},
		{"GET", "/api"},
		{"GET", "/assets/../api/v1/services"},
		{"GET", "/ws"},
		{"GET", "/ws?since=42"},
	}
	open = []routeCase{
		{"GET", "/healthz"},
		{"GET", "/readyz"},
		{"GET", "/metrics"},
		{"GET", "/"},
		{"GET", "/index.html"},
		{"GET", "/assets/app.js"},
		{"GET", "/apiary"}, // only /api and /api/... are the API
		{"GET", "/wsx"},
	}
)

func serve(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	maps.Copy(req.Header, header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func authHeader(v string) http.Header {
	if v == "" {
		return http.Header{}
	}
	return http.Header{"Authorization": {v}}
}

// requireUnauthorized checks the whole 401 contract.
func requireUnauthorized(t *testing.T, rec *httptest.ResponseRecorder, withBasic bool) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	require.Equal(t, "unauthorized", body.Error.Code)
	require.NotEmpty(t, body.Error.Message)
	challenges := rec.Header().Values("WWW-Authenticate")
	require.NotEmpty(t, challenges)
	require.True(t, strings.HasPrefix(challenges[0], `Bearer realm="vigil"`), challenges[0])
	if withBasic {
		require.Contains(t, challenges, `Basic realm="vigil", charset="UTF-8"`)
	} else {
		require.Len(t, challenges, 1)
	}
	require.Empty(t, rec.Header().Get("X-Identity"), "the protected handler must not run")
}

func TestMiddlewareRouteClasses(t *testing.T) {
	for _, protectReads := range []bool{true, false} {
		h := auth.Middleware(testConfig(protectReads), zap.NewNop(), echo)
		classes := []struct {
			name      string
			routes    []routeCase
			protected bool
		}{
			{"write", writes, true},
			{"read", reads, protectReads},
			{"open", open, false},
		}
		for _, class := range classes {
			for _, rc := range class.routes {
				for _, c := range creds {
					name := fmt.Sprintf("reads=%t/%s/%s %s/%s", protectReads, class.name, rc.method, rc.target, c.name)
					t.Run(name, func(t *testing.T) {
						rec := serve(t, h, rc.method, rc.target, authHeader(c.header))
						switch {
						case !class.protected:
							require.Equal(t, http.StatusOK, rec.Code)
							require.Empty(t, rec.Header().Get("X-Identity"), "unguarded routes do not look at credentials")
						case c.ok:
							require.Equal(t, http.StatusOK, rec.Code)
							require.Equal(t, c.id, rec.Header().Get("X-Identity"))
						default:
							requireUnauthorized(t, rec, true)
						}
					})
				}
			}
		}
	}
}

func TestChallenges(t *testing.T) {
	tests := []struct {
		name   string
		cfg    auth.Config
		header http.Header
		want   []string
	}{
		{
			name: "no credential",
			cfg:  testConfig(true),
			want: []string{`Bearer realm="vigil"`, `Basic realm="vigil", charset="UTF-8"`},
		},
		{
			name:   "wrong token says invalid_token",
			cfg:    testConfig(true),
			header: authHeader("Bearer nope"),
			want:   []string{`Bearer realm="vigil", error="invalid_token"`, `Basic realm="vigil", charset="UTF-8"`},
		},
		{
			name:   "malformed header says invalid_request",
			cfg:    testConfig(true),
			header: authHeader("Bearer a b"),
			want:   []string{`Bearer realm="vigil", error="invalid_request"`, `Basic realm="vigil", charset="UTF-8"`},
		},
		{
			name:   "wrong password",
			cfg:    testConfig(true),
			header: authHeader(basic("alice", wrongPass)),
			want:   []string{`Bearer realm="vigil"`, `Basic realm="vigil", charset="UTF-8"`},
		},
		{
			name:   "scripts get no Basic challenge, so browsers show no login popup",
			cfg:    testConfig(true),
			header: http.Header{"X-Requested-With": {"XMLHttpRequest"}},
			want:   []string{`Bearer realm="vigil"`},
		},
		{
			name: "tokens only",
			cfg:  auth.Config{Tokens: []string{tokenOne}, ProtectReads: true},
			want: []string{`Bearer realm="vigil"`},
		},
		{
			name: "two Authorization headers are refused",
			cfg:  testConfig(true),
			header: http.Header{"Authorization": {
				"Bearer " + tokenOne, "Bearer " + tokenTwo,
			}},
			want: []string{`Bearer realm="vigil", error="invalid_request"`, `Basic realm="vigil", charset="UTF-8"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, auth.Middleware(tt.cfg, nil, echo), "POST", "/api/v1/services", tt.header)
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			require.Equal(t, tt.want, rec.Header().Values("WWW-Authenticate"))
			require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
		})
	}
}

func TestDisabledPassesEverythingThrough(t *testing.T) {
	h := auth.Middleware(auth.Config{ProtectReads: true}, nil, echo)
	for _, rc := range append(append(writes, reads...), open...) {
		rec := serve(t, h, rc.method, rc.target, nil)
		require.Equal(t, http.StatusOK, rec.Code, "%s %s", rc.method, rc.target)
	}
}

func TestWebSocketCredentials(t *testing.T) {
	h := auth.Middleware(testConfig(true), zap.NewNop(), echo)
	tests := []struct {
		name     string
		target   string
		header   http.Header
		ok       bool
		rawQuery string
	}{
		{name: "query token", target: "/ws?access_token=" + tokenOne, ok: true},
		{name: "query token with since", target: "/ws?since=42&access_token=" + tokenTwo, ok: true, rawQuery: "since=42"},
		{name: "wrong query token", target: "/ws?access_token=nope"},
		{name: "empty query token", target: "/ws?access_token="},
		{name: "two query tokens", target: "/ws?access_token=" + tokenOne + "&access_token=" + tokenTwo},
		{name: "subprotocol token", target: "/ws?since=7",
			header: http.Header{"Sec-Websocket-Protocol": {"json, bearer." + tokenOne}}, ok: true, rawQuery: "since=7"},
		{name: "wrong subprotocol token", target: "/ws",
			header: http.Header{"Sec-Websocket-Protocol": {"bearer.nope"}}},
		{name: "empty subprotocol token", target: "/ws",
			header: http.Header{"Sec-Websocket-Protocol": {"bearer."}}},
		{name: "other subprotocols are no credential", target: "/ws",
			header: http.Header{"Sec-Websocket-Protocol": {"json"}}},
		{name: "header wins over a wrong query token", target: "/ws?access_token=nope",
			header: authHeader("Bearer " + tokenOne), ok: true, rawQuery: ""},
		{name: "a wrong header is not rescued by a right query token", target: "/ws?access_token=" + tokenOne,
			header: authHeader("Bearer nope")},
		{name: "basic on the websocket", target: "/ws", header: authHeader(basic("bob", "builder")), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, h, "GET", tt.target, tt.header)
			if !tt.ok {
				requireUnauthorized(t, rec, true)
				return
			}
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, tt.rawQuery, rec.Header().Get("X-Raw-Query"))
			require.NotContains(t, rec.Header().Get("X-Request-Uri"), tokenOne)
			require.NotContains(t, rec.Header().Get("X-Request-Uri"), tokenTwo)
		})
	}

	t.Run("an encoded parameter name is still removed", func(t *testing.T) {
		rec := serve(t, h, "GET", "/ws?since=3&access%5Ftoken="+tokenOne, nil)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "since=3", rec.Header().Get("X-Raw-Query"))
		require.Equal(t, "/ws?since=3", rec.Header().Get("X-Request-Uri"))
	})

	t.Run("removed when reads are open too", func(t *testing.T) {
		rec := serve(t, auth.Middleware(testConfig(false), nil, echo), "GET", "/ws?access_token=whatever&since=9", nil)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "since=9", rec.Header().Get("X-Raw-Query"))
		require.Empty(t, rec.Header().Get("X-Identity"))
	})

	t.Run("query tokens are for the websocket only", func(t *testing.T) {
		rec := serve(t, h, "GET", "/api/v1/services?access_token="+tokenOne, nil)
		requireUnauthorized(t, rec, true)
		rec = serve(t, h, "POST", "/api/v1/services", http.Header{"Sec-Websocket-Protocol": {"bearer." + tokenOne}})
		requireUnauthorized(t, rec, true)
	})
}

func TestWebSocketProtocol(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"none", nil, ""},
		{"only others", []string{"json, v2.vigil"}, ""},
		{"single", []string{"bearer.abc"}, "bearer.abc"},
		{"in a list", []string{"json,  bearer.abc ,v2"}, "bearer.abc"},
		{"in a second header line", []string{"json", "bearer.xyz"}, "bearer.xyz"},
		{"first of two", []string{"bearer.one, bearer.two"}, "bearer.one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/ws", nil)
			for _, v := range tt.values {
				r.Header.Add("Sec-WebSocket-Protocol", v)
			}
			require.Equal(t, tt.want, auth.WebSocketProtocol(r))
		})
	}
}

// TestNothingSecretIsLogged sends every kind of credential and checks that
// the logs name users and paths but hold no password or token.
func TestNothingSecretIsLogged(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := auth.Middleware(testConfig(true), zap.New(core), echo)
	for _, c := range creds {
		serve(t, h, "POST", "/api/v1/services", authHeader(c.header))
	}
	serve(t, h, "GET", "/ws?access_token="+tokenOne, nil)
	serve(t, h, "GET", "/ws?access_token=wrong-"+tokenTwo, nil)
	serve(t, h, "GET", "/ws", http.Header{"Sec-Websocket-Protocol": {"bearer." + tokenTwo + "x"}})
	serve(t, h, "POST", "/api/v1/services", authHeader(basic("hunter2-typed-as-a-name", "x")))

	var all strings.Builder
	users := map[string]int{}
	for _, e := range logs.All() {
		fmt.Fprintf(&all, "%s %v\n", e.Message, e.ContextMap())
		if u, ok := e.ContextMap()["user"].(string); ok {
			users[u]++
		}
	}
	text := all.String()
	for _, secret := range []string{tokenOne, tokenTwo, alicePW, "builder", wrongPass, "tok-1-wrong", "hunter2",
		base64.StdEncoding.EncodeToString([]byte("alice:" + alicePW))} {
		require.NotContains(t, text, secret)
	}
	require.Equal(t, 1, logs.FilterMessage("api authentication enabled").Len())
	require.Positive(t, users["alice"], "a known user's failures and successes name the user")
	require.Positive(t, users["(unknown)"], "an unknown name may be a mistyped password, so it is not logged")
	require.Positive(t, users["token"])
	require.Positive(t, logs.FilterField(zap.String("path", "/api/v1/services")).Len())
	require.Positive(t, logs.FilterMessage("unauthorized request").FilterField(zap.String("source", "query parameter")).Len())
	require.Positive(t, logs.FilterMessage("authenticated request").Len())
}

func TestIdentityWithoutAuth(t *testing.T) {
	require.Empty(t, auth.Identity(httptest.NewRequest(http.MethodGet, "/", nil).Context()))
}
