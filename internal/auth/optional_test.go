package auth_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/auth"
)

// Status pages, their live feeds and badges are never refused by the
// middleware (a public page is for anyone), but a valid credential there
// becomes the Identity the handler judges a private page by, and a
// WebSocket's access_token is verified and scrubbed as on /ws.
func TestOptionalRoutesIdentifyWithoutRefusing(t *testing.T) {
	h := auth.Middleware(testConfig(true), zap.NewNop(), echo)
	for _, target := range []string{"/status/acme", "/badges/abc/status.svg", "/ws/status/acme"} {
		for _, c := range creds {
			t.Run(target+"/"+c.name, func(t *testing.T) {
				rec := serve(t, h, http.MethodGet, target, authHeader(c.header))
				require.Equal(t, http.StatusOK, rec.Code)
				want := ""
				if c.ok {
					want = c.id
				}
				require.Equal(t, want, rec.Header().Get("X-Identity"))
			})
		}
	}
	rec := serve(t, h, http.MethodGet, "/ws/status/acme?access_token="+tokenOne+"&since=3", nil)
	require.Equal(t, "token", rec.Header().Get("X-Identity"))
	require.Equal(t, "since=3", rec.Header().Get("X-Raw-Query"), "the token never reaches the handler")
	rec = serve(t, h, http.MethodGet, "/status/acme?access_token="+tokenOne, nil)
	require.Empty(t, rec.Header().Get("X-Identity"), "only the WebSocket takes a token in the URL")
	require.Equal(t, http.StatusUnauthorized, serve(t, h, http.MethodGet, "/ws", nil).Code, "the full feed stays protected")
	require.Equal(t, http.StatusUnauthorized, serve(t, h, http.MethodGet, "/ws/other", nil).Code)
}
