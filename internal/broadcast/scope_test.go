package broadcast

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// A scoped client (a status page's live feed) is sent only the checks
// its scope allows, live and replayed, without error texts when redacted;
// an unscoped client on the same hub still gets everything.
func TestScopedClientSeesOnlyItsChecks(t *testing.T) {
	log := &transitionLog{}
	log.add(1, 2, 3, 4)
	h := newTestHub(t, Config{Replay: log.replay, ReplayPageSize: 2})
	scope := Scope{Allow: func(id string) bool { return id == "svc-1" }, Redact: true}
	scoped := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeScoped(w, r, scope)
	}))
	t.Cleanup(scoped.Close)
	dialScoped := func(query string) *websocket.Conn {
		before := h.Clients()
		conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(),
			"ws"+strings.TrimPrefix(scoped.URL, "http")+"/?"+query, nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		t.Cleanup(func() { _ = conn.Close() })
		require.Eventually(t, func() bool { return h.Clients() > before }, wait, time.Millisecond)
		return conn
	}

	all := h.dial(t, "")
	page := dialScoped("since=0")
	// Replayed: of 1-4 only 1 and 4 are svc-1's.
	ev := readEvent(t, page)
	require.Equal(t, int64(1), ev.ID)
	require.Equal(t, "svc-1", ev.ServiceID)
	require.Empty(t, ev.Error, "a redacted feed carries no error text")
	require.Equal(t, int64(4), readEvent(t, page).ID)

	for id := int64(5); id <= 10; id++ {
		h.Publish(transition(id))
	}
	require.Equal(t, seq(5, 10), readIDs(t, all, 6), "the dashboard's feed is unfiltered")
	require.Equal(t, "timeout after 2s", NewEvent(transition(7)).Error)
	for _, want := range []int64{7, 10} {
		ev := readEvent(t, page)
		require.Equal(t, want, ev.ID)
		require.Empty(t, ev.Error)
	}
	// Nothing else is queued for the page: the next svc-1 event is next.
	h.Publish(transition(11))
	h.Publish(transition(13))
	require.Equal(t, int64(13), readEvent(t, page).ID)

	unredacted := Scope{Allow: scope.Allow}
	require.Equal(t, "timeout after 2s", unredacted.event(transition(1)).Error)
	require.True(t, Scope{}.allows("anything"))
}
