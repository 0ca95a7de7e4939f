package auth_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/auth"
)

// TestWebSocketHandshake runs real handshakes through the middleware to a
// gorilla upgrader wired the way the broadcaster must be: echoing the
// bearer subprotocol the client offered, as browsers require.
func TestWebSocketHandshake(t *testing.T) {
	upgrader := websocket.Upgrader{}
	ws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := http.Header{}
		if p := auth.WebSocketProtocol(r); p != "" {
			h.Set("Sec-WebSocket-Protocol", p)
		}
		conn, err := upgrader.Upgrade(w, r, h)
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		_ = conn.WriteMessage(websocket.TextMessage, []byte(auth.Identity(r.Context())+" "+r.URL.RawQuery))
	})
	srv := httptest.NewServer(auth.Middleware(testConfig(true), zap.NewNop(), ws))
	t.Cleanup(srv.Close)
	base := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	tests := []struct {
		name      string
		url       string
		protocols []string
		header    http.Header
		ok        bool
		greeting  string
	}{
		{name: "no credential", url: base},
		{name: "wrong subprotocol token", url: base, protocols: []string{"bearer.nope"}},
		{name: "wrong query token", url: base + "?access_token=nope"},
		{name: "subprotocol token", url: base + "?since=5", protocols: []string{"bearer." + tokenOne}, ok: true, greeting: "token since=5"},
		{name: "query token", url: base + "?access_token=" + tokenTwo + "&since=6", ok: true, greeting: "token since=6"},
		{name: "header (non-browser clients)", url: base, header: http.Header{"Authorization": {basic("alice", alicePW)}}, ok: true, greeting: "alice "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: tt.protocols}
			conn, resp, err := d.Dial(tt.url, tt.header)
			if resp != nil && resp.Body != nil {
				defer func() { _ = resp.Body.Close() }()
			}
			if !tt.ok {
				require.ErrorIs(t, err, websocket.ErrBadHandshake)
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
				return
			}
			require.NoError(t, err)
			defer func() { _ = conn.Close() }()
			if len(tt.protocols) > 0 {
				require.Equal(t, tt.protocols[0], conn.Subprotocol(), "the server echoes the offered subprotocol")
			}
			_, msg, err := conn.ReadMessage()
			require.NoError(t, err)
			require.Equal(t, tt.greeting, string(msg))
		})
	}
}
