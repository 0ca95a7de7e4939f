package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

type event struct {
	Type      string  `json:"type"`
	ID        int64   `json:"id"`
	ServiceID string  `json:"service_id"`
	Service   string  `json:"service"`
	From      string  `json:"from"`
	To        string  `json:"to"`
	At        string  `json:"at"`
	LatencyMs float64 `json:"latency_ms"`
	Error     string  `json:"error"`
}

// dial connects a WebSocket client and returns its events as a channel
// (a gorilla connection is unusable after a read times out, so the test
// waits on the channel instead).
func dial(t testing.TB, api, query string) <-chan event {
	t.Helper()
	u := "ws" + strings.TrimPrefix(api, "http") + "/ws" + query
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	events := make(chan event, 100)
	go func() {
		defer close(events)
		for {
			var e event
			if err := c.ReadJSON(&e); err != nil {
				return
			}
			events <- e
		}
	}()
	return events
}

// next returns the next event, or false when none arrives within d.
func next(t testing.TB, events <-chan event, d time.Duration) (event, bool) {
	t.Helper()
	select {
	case e, ok := <-events:
		return e, ok
	case <-time.After(d):
		return event{}, false
	}
}

// The end-to-end promise: a WebSocket client sees UP->DOWN and
// DOWN->UP exactly once each and nothing for steady probes, and a client
// that reconnects with since gets what it missed.
func TestTransitionsReachWebSocketClientsOnce(t *testing.T) {
	t.Parallel()
	sys := start(t, testConfig(t), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	srv, down := target(t)
	ws := dial(t, sys.api, "")

	var sv service
	require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
		"name": "payments", "url": srv.URL, "interval_seconds": 1, "timeout_seconds": 0.5,
	}, &sv))

	first, ok := next(t, ws, 5*time.Second)
	require.True(t, ok, "UNKNOWN->UP arrives")
	require.Equal(t, "transition", first.Type)
	require.Equal(t, sv.ID, first.ServiceID)
	require.Equal(t, "payments", first.Service)
	require.Equal(t, "UNKNOWN", first.From)
	require.Equal(t, "UP", first.To)

	_, ok = next(t, ws, 2500*time.Millisecond)
	require.False(t, ok, "steady UP results send nothing")

	down.Store(true)
	e, ok := next(t, ws, 5*time.Second)
	require.True(t, ok)
	require.Equal(t, "UP", e.From)
	require.Equal(t, "DOWN", e.To)
	require.Contains(t, e.Error, "500")
	downID := e.ID

	_, ok = next(t, ws, 2500*time.Millisecond)
	require.False(t, ok, "steady DOWN results send nothing")

	down.Store(false)
	e, ok = next(t, ws, 5*time.Second)
	require.True(t, ok)
	require.Equal(t, "DOWN", e.From)
	require.Equal(t, "UP", e.To)
	require.Greater(t, e.ID, downID)

	// Pausing is a transition too.
	require.Equal(t, http.StatusOK, call(t, "POST", sys.api+"/api/v1/services/"+sv.ID+"/pause", nil, nil))
	e, ok = next(t, ws, 5*time.Second)
	require.True(t, ok)
	require.Equal(t, "PAUSED", e.To)

	// A client that was away replays from the id it last saw.
	late := dial(t, sys.api, "?since="+strconv.FormatInt(first.ID, 10))
	var replay []string
	for {
		e, ok := next(t, late, time.Second)
		if !ok {
			break
		}
		replay = append(replay, e.From+"->"+e.To)
	}
	require.Equal(t, []string{"UP->DOWN", "DOWN->UP", "UP->PAUSED"}, replay)

	var trs struct {
		Items []event `json:"items"`
	}
	require.Equal(t, http.StatusOK, call(t, "GET", sys.api+"/api/v1/services/"+sv.ID+"/transitions", nil, &trs))
	require.Len(t, trs.Items, 4)
}
