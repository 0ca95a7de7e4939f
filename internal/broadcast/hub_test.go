package broadcast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigil-dev/vigil/internal/check"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every asynchronous expectation; generous, since CI machines
// are small and -race is slow.
const wait = 10 * time.Second

var baseTime = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func transition(id int64) check.Transition {
	return check.Transition{
		ID: id, CheckID: fmt.Sprintf("svc-%d", id%3), Service: fmt.Sprintf("service-%d", id%3),
		From: check.StateUp, To: check.StateDown, At: baseTime.Add(time.Duration(id) * time.Second),
		Latency: 2001 * time.Millisecond, Error: "timeout after 2s",
	}
}

// transitionLog is an in-memory transitions table for Replay.
type transitionLog struct {
	mu    sync.Mutex
	ts    []check.Transition
	calls int
	// onReplay runs after a page is read and before it is returned:
	// the moment live events can race the replay.
	onReplay func(call int)
}

func (l *transitionLog) add(ids ...int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.ts = append(l.ts, transition(id))
	}
	slices.SortFunc(l.ts, func(a, b check.Transition) int { return int(a.ID - b.ID) })
}

func (l *transitionLog) replay(_ context.Context, afterID int64, limit int) ([]check.Transition, error) {
	l.mu.Lock()
	var page []check.Transition
	for _, t := range l.ts {
		if t.ID > afterID && len(page) < limit {
			page = append(page, t)
		}
	}
	l.calls++
	call, hook := l.calls, l.onReplay
	l.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	return page, nil
}

type testHub struct {
	*Hub
	srv  *httptest.Server
	logs *observer.ObservedLogs
}

func newTestHub(t testing.TB, cfg Config, listen ...func(net.Listener) net.Listener) *testHub {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cfg.Logger = zap.New(core)
	hub := New(cfg)
	srv := httptest.NewUnstartedServer(hub)
	for _, wrap := range listen {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return &testHub{Hub: hub, srv: srv, logs: logs}
}

func (h *testHub) url(query string) string {
	u := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/"
	if query != "" {
		u += "?" + query
	}
	return u
}

func (h *testHub) dial(t *testing.T, query string) *websocket.Conn {
	t.Helper()
	return h.dialWith(t, websocket.DefaultDialer, query)
}

func (h *testHub) dialWith(t *testing.T, d *websocket.Dialer, query string) *websocket.Conn {
	t.Helper()
	before := h.Clients()
	conn, resp, err := d.DialContext(t.Context(), h.url(query), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = conn.Close() })
	// The hub registers the client right after the upgrade; wait for it so
	// that events published next are the client's to receive.
	require.Eventually(t, func() bool { return h.Clients() > before }, wait, time.Millisecond)
	return conn
}

func readEvent(t *testing.T, conn *websocket.Conn) Event {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	var ev Event
	require.NoError(t, conn.ReadJSON(&ev))
	return ev
}

func readIDs(t *testing.T, conn *websocket.Conn, n int) []int64 {
	t.Helper()
	ids := make([]int64, 0, n)
	for range n {
		ids = append(ids, readEvent(t, conn).ID)
	}
	return ids
}

// requireClosed reads until the server's close frame and checks its code.
func requireClosed(t *testing.T, conn *websocket.Conn, code int, reason string) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, code, ce.Code, "close: %v", ce)
		require.Equal(t, reason, ce.Text)
		return
	}
}

// requireNothingMore proves no further event is queued for conn: a marker
// published now must be the very next message.
func requireNothingMore(t *testing.T, h *testHub, conn *websocket.Conn, marker int64) {
	t.Helper()
	h.Publish(transition(marker))
	require.Equal(t, marker, readEvent(t, conn).ID)
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestEventJSON(t *testing.T) {
	tr := check.Transition{ID: 42, CheckID: "c0ffee", Service: "payments", From: check.StateUp, To: check.StateDown,
		At: time.Date(2025, 1, 2, 15, 4, 5, 123_456_789, time.FixedZone("CET", 3600)), Latency: 2001 * time.Millisecond,
		Error: "timeout after 2s"}
	b, err := json.Marshal(NewEvent(tr))
	require.NoError(t, err)
	require.Equal(t, `{"type":"transition","id":42,"service_id":"c0ffee","service":"payments","from":"UP","to":"DOWN",`+
		`"at":"2025-01-02T14:04:05.123Z","latency_ms":2001,"error":"timeout after 2s"}`, string(b))

	tr.Error, tr.Latency = "", 1500*time.Microsecond
	b, err = json.Marshal(NewEvent(tr))
	require.NoError(t, err)
	require.NotContains(t, string(b), `"error"`)
	require.Contains(t, string(b), `"latency_ms":1.5`)
}

func TestParseSince(t *testing.T) {
	tests := []struct {
		raw    string
		id     int64
		replay bool
		ok     bool
	}{
		{"", 0, false, true},
		{"0", 0, true, true},
		{"42", 42, true, true},
		{"007", 7, true, true},
		{"9223372036854775807", 9223372036854775807, true, true},
		{"9223372036854775808", 0, false, false},
		{"-1", 0, false, false},
		{"+1", 0, false, false},
		{"1.5", 0, false, false},
		{"abc", 0, false, false},
		{" 1", 0, false, false},
		{"1e3", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			id, replay, err := ParseSince(tt.raw)
			if !tt.ok {
				require.ErrorIs(t, err, ErrInvalidSince)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.id, id)
			require.Equal(t, tt.replay, replay)
		})
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"", "0", "42", "-1", "+1", "9223372036854775808", "１", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		id, replay, err := ParseSince(raw)
		if err != nil {
			if id != 0 || replay {
				t.Fatalf("error with a value: %d %v", id, replay)
			}
			return
		}
		if raw == "" {
			if replay {
				t.Fatal("empty since must not replay")
			}
			return
		}
		if !replay || id < 0 {
			t.Fatalf("accepted %q as %d (replay %v)", raw, id, replay)
		}
		if strings.TrimLeft(raw, "0") != strings.TrimLeft(strconv.FormatInt(id, 10), "0") {
			t.Fatalf("%q parsed as %d", raw, id)
		}
	})
}

func TestLiveDelivery(t *testing.T) {
	h := newTestHub(t, Config{})
	conn := h.dial(t, "")
	for _, id := range []int64{7, 3, 9} { // published order, not id order
		h.Publish(transition(id))
	}
	first := readEvent(t, conn)
	require.Equal(t, NewEvent(transition(7)), first)
	require.Equal(t, []int64{3, 9}, readIDs(t, conn, 2))

	// A transition not (yet) logged has id 0 and is never deduplicated.
	h.Publish(check.Transition{Service: "x", From: check.StateUp, To: check.StatePaused})
	h.Publish(check.Transition{Service: "x", From: check.StatePaused, To: check.StateUnknown})
	require.Equal(t, "PAUSED", readEvent(t, conn).To)
	require.Equal(t, "UNKNOWN", readEvent(t, conn).To)
}

func TestDuplicatePublishDeliveredOnce(t *testing.T) {
	h := newTestHub(t, Config{DedupSize: 4})
	conn := h.dial(t, "")
	for _, id := range []int64{1, 1, 2, 1, 2, 3} {
		h.Publish(transition(id))
	}
	require.Equal(t, []int64{1, 2, 3}, readIDs(t, conn, 3))
	requireNothingMore(t, h, conn, 4)

	// The window is bounded: an id older than the last DedupSize is
	// forgotten, which is the price of bounded memory.
	for id := int64(5); id <= 8; id++ {
		h.Publish(transition(id))
	}
	h.Publish(transition(1))
	require.Equal(t, []int64{5, 6, 7, 8, 1}, readIDs(t, conn, 5))
}

func TestReplayThenLive(t *testing.T) {
	log := &transitionLog{}
	log.add(1, 2, 3, 4, 5, 6, 7, 9, 10) // 8 commits late, after the replay read past it
	var hub atomic.Pointer[testHub]     // set once the server runs; read by its goroutines
	log.onReplay = func(call int) {
		if call != 1 {
			return
		}
		h := hub.Load()
		// Live events race the first page: a repeat of a replayed id, an
		// id the client had before reconnecting, a new id the replay
		// will also find, one only the live stream has, and the late 8.
		h.Publish(transition(6))
		h.Publish(transition(3))
		log.add(11)
		h.Publish(transition(11))
		h.Publish(transition(12))
		h.Publish(transition(8))
	}
	h := newTestHub(t, Config{Replay: log.replay, ReplayPageSize: 3})
	hub.Store(h)
	conn := h.dial(t, "since=4")

	require.Equal(t, []int64{5, 6, 7, 9, 10, 11, 12, 8}, readIDs(t, conn, 8))
	requireNothingMore(t, h, conn, 13)
	log.mu.Lock()
	require.Equal(t, 3, log.calls, "pages of 3: 5-7, 9-11, then a short one")
	log.mu.Unlock()
}

func TestReplayFromZeroAndEmpty(t *testing.T) {
	log := &transitionLog{}
	h := newTestHub(t, Config{Replay: log.replay})

	empty := h.dial(t, "since=0")
	requireNothingMore(t, h, empty, 1)

	log.add(1, 2, 3)
	all := h.dial(t, "since=0")
	require.Equal(t, []int64{1, 2, 3}, readIDs(t, all, 3))

	caughtUp := h.dial(t, "since=3")
	requireNothingMore(t, h, caughtUp, 4)
}

func TestReplayFailure(t *testing.T) {
	h := newTestHub(t, Config{Replay: func(context.Context, int64, int) ([]check.Transition, error) {
		return nil, errors.New("query transitions: connection refused")
	}})
	conn := h.dial(t, "since=10")
	requireClosed(t, conn, websocket.CloseInternalServerErr, "replay failed")
	require.Eventually(t, func() bool { return h.Clients() == 0 }, wait, time.Millisecond)
	entries := h.logs.FilterMessage("replay transitions").All()
	require.Len(t, entries, 1)
	require.Equal(t, "query transitions: connection refused", entries[0].ContextMap()["error"])
}

func TestRequestErrors(t *testing.T) {
	log := &transitionLog{}
	tests := []struct {
		name   string
		cfg    Config
		query  string
		status int
		code   string
		field  string
	}{
		{"since not a number", Config{Replay: log.replay}, "since=abc", http.StatusBadRequest, "invalid_parameter", "since"},
		{"since negative", Config{Replay: log.replay}, "since=-1", http.StatusBadRequest, "invalid_parameter", "since"},
		{"since without a log", Config{}, "since=1", http.StatusBadRequest, "invalid_parameter", "since"},
		{"not authorized", Config{Authorize: func(*http.Request) bool { return false }}, "", http.StatusUnauthorized, "unauthorized", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHub(t, tt.cfg)
			_, resp, err := websocket.DefaultDialer.DialContext(t.Context(), h.url(tt.query), nil)
			require.ErrorIs(t, err, websocket.ErrBadHandshake)
			defer func() { _ = resp.Body.Close() }()
			require.Equal(t, tt.status, resp.StatusCode)
			require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			var body struct {
				Error map[string]string `json:"error"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			require.Equal(t, tt.code, body.Error["code"])
			require.Equal(t, tt.field, body.Error["field"])
			require.NotEmpty(t, body.Error["message"])
			require.Equal(t, 0, h.Clients())
		})
	}
	t.Run("authorized", func(t *testing.T) {
		h := newTestHub(t, Config{Authorize: func(r *http.Request) bool { return r.URL.Query().Get("token") == "s3cret" }})
		conn := h.dial(t, "token=s3cret")
		requireNothingMore(t, h, conn, 1)
	})
	t.Run("not a websocket request", func(t *testing.T) {
		h := newTestHub(t, Config{})
		resp, err := h.srv.Client().Get(h.srv.URL)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Equal(t, 0, h.Clients())
	})
}

// smallBuffers shrinks the server's socket send buffer so a client that
// stops reading blocks the server's writes within a few events.
func smallBuffers(l net.Listener) net.Listener { return smallBufListener{l} }

type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestSlowClientDroppedFastClientUnaffected(t *testing.T) {
	const buffer = 8
	h := newTestHub(t, Config{BufferSize: buffer, WriteWait: 2 * time.Second}, smallBuffers)

	fast := h.dial(t, "")
	var (
		mu       sync.Mutex
		received []int64
	)
	readerDone := make(chan error, 1)
	go func() {
		for {
			_, data, err := fast.ReadMessage()
			if err != nil {
				readerDone <- err
				return
			}
			var ev Event
			if err := json.Unmarshal(data, &ev); err != nil {
				readerDone <- err
				return
			}
			mu.Lock()
			received = append(received, ev.ID)
			mu.Unlock()
		}
	}()

	slowDialer := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	slow := h.dialWith(t, slowDialer, "") // never reads
	require.Equal(t, 2, h.Clients())

	// Publish in batches of half a buffer and let the fast client drain
	// each batch, so only the slow client can ever fall a buffer behind.
	var published int64
	publishBatch := func(payload string) {
		t.Helper()
		for range buffer / 2 {
			published++
			tr := transition(published)
			tr.Error = payload
			h.Publish(tr)
		}
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return int64(len(received)) == published
		}, wait, time.Millisecond, "fast client fell behind at %d", published)
	}
	big := strings.Repeat("x", 2048)
	for batch := 0; batch < 2000 && h.Clients() == 2; batch++ {
		publishBatch(big)
	}
	require.Equal(t, 1, h.Clients(), "the slow client was never dropped")

	// The fast client keeps receiving, in order, exactly once.
	for range 4 {
		publishBatch("")
	}
	mu.Lock()
	require.Equal(t, seq(1, published), received)
	mu.Unlock()

	// The slow client, reading at last, finds the stream cut short.
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(wait)))
	var got int64
	var err error
	for {
		if _, _, err = slow.ReadMessage(); err != nil {
			break
		}
		got++
	}
	require.True(t, websocket.IsCloseError(err, websocket.ClosePolicyViolation, websocket.CloseAbnormalClosure), "got %v", err)
	require.Less(t, got, published)
	require.Len(t, h.logs.FilterMessage("websocket client too slow, disconnecting").All(), 1)

	require.NoError(t, fast.Close())
	require.Error(t, <-readerDone)
}

func TestOverflowClosesWithPolicyViolation(t *testing.T) {
	// A replay that cannot finish keeps the writer from draining the
	// buffer, which makes the overflow deterministic.
	release := make(chan struct{})
	h := newTestHub(t, Config{BufferSize: 2, Replay: func(ctx context.Context, _ int64, _ int) ([]check.Transition, error) {
		select {
		case <-release:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}})
	defer close(release)
	other := h.dial(t, "")
	stuck := h.dial(t, "since=0")
	for id := int64(1); id <= 3; id++ {
		h.Publish(transition(id))
	}
	requireClosed(t, stuck, websocket.ClosePolicyViolation, "too slow")
	require.Equal(t, 1, h.Clients())
	require.Equal(t, []int64{1, 2, 3}, readIDs(t, other, 3))
}

func TestPingKeepsAlive(t *testing.T) {
	h := newTestHub(t, Config{PingInterval: 25 * time.Millisecond, PongWait: 250 * time.Millisecond})
	conn := h.dial(t, "")
	var pings atomic.Int64
	conn.SetPingHandler(func(data string) error {
		pings.Add(1)
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	events := make(chan Event, 1)
	go func() {
		defer close(events)
		for {
			var ev Event
			if err := conn.ReadJSON(&ev); err != nil {
				return
			}
			events <- ev
		}
	}()
	// Thirty pings span three pong waits: only the pongs kept it open.
	require.Eventually(t, func() bool { return pings.Load() >= 30 }, wait, time.Millisecond)
	require.Equal(t, 1, h.Clients())
	h.Publish(transition(1))
	select {
	case ev := <-events:
		require.Equal(t, int64(1), ev.ID)
	case <-time.After(wait):
		t.Fatal("no event after the pings")
	}
	require.NoError(t, conn.Close())
	for range events {
	}
}

func TestDeadPeerDetected(t *testing.T) {
	h := newTestHub(t, Config{PingInterval: 25 * time.Millisecond, PongWait: 250 * time.Millisecond})
	conn := h.dial(t, "") // never reads, so never answers a ping
	require.Eventually(t, func() bool { return h.Clients() == 0 }, wait, time.Millisecond)
	requireClosed(t, conn, websocket.ClosePolicyViolation, "pong timeout")
}

func TestClientSideClose(t *testing.T) {
	h := newTestHub(t, Config{})
	conn := h.dial(t, "")
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte("hello, ignored")))
	require.NoError(t, conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second)))
	require.Eventually(t, func() bool { return h.Clients() == 0 }, wait, time.Millisecond)
	// The server echoes the close code, as RFC 6455 asks.
	requireClosed(t, conn, websocket.CloseNormalClosure, "")
}

func TestClientMessageTooBig(t *testing.T) {
	h := newTestHub(t, Config{})
	conn := h.dial(t, "")
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", MaxMessageSize+1))))
	require.Eventually(t, func() bool { return h.Clients() == 0 }, wait, time.Millisecond)
	requireClosed(t, conn, websocket.CloseMessageTooBig, "")
}

func TestManyClients(t *testing.T) {
	const clients, events = 25, 40
	h := newTestHub(t, Config{})
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = h.dial(t, "")
	}
	require.Equal(t, clients, h.Clients())
	for id := int64(1); id <= events; id++ {
		h.Publish(transition(id))
	}
	var wg sync.WaitGroup
	got := make([][]int64, clients)
	for i, c := range conns {
		wg.Go(func() {
			for range events {
				var ev Event
				if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
					return
				}
				if err := c.ReadJSON(&ev); err != nil {
					return
				}
				got[i] = append(got[i], ev.ID)
			}
		})
	}
	wg.Wait()
	for i := range got {
		require.Equal(t, seq(1, events), got[i], "client %d", i)
	}
}

func TestClose(t *testing.T) {
	h := newTestHub(t, Config{})
	a, b := h.dial(t, ""), h.dial(t, "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Close()
	}()
	requireClosed(t, a, websocket.CloseGoingAway, "server shutting down")
	requireClosed(t, b, websocket.CloseGoingAway, "server shutting down")
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Close did not return")
	}
	require.Equal(t, 0, h.Clients())

	h.Publish(transition(1)) // a no-op, not a panic

	_, resp, err := websocket.DefaultDialer.DialContext(t.Context(), h.url(""), nil)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), "shutting down")
}

func TestRecentIDs(t *testing.T) {
	r := newRecentIDs(3)
	require.True(t, r.add(10))
	require.False(t, r.add(10))
	require.False(t, r.forgotten(1), "nothing is forgotten before the window fills")
	r.add(11)
	r.add(12)
	require.True(t, r.forgotten(9))
	require.False(t, r.forgotten(10))
	r.add(13) // pushes 10 out
	require.False(t, r.has(10))
	require.True(t, r.has(11) && r.has(12) && r.has(13))
	require.True(t, r.forgotten(10))
	require.True(t, r.add(10))
}

func TestSubprotocolIsEchoed(t *testing.T) {
	h := newTestHub(t, Config{Subprotocol: func(r *http.Request) string {
		for _, p := range websocket.Subprotocols(r) {
			if strings.HasPrefix(p, "bearer.") {
				return p
			}
		}
		return ""
	}})
	conn := h.dialWith(t, &websocket.Dialer{Subprotocols: []string{"bearer.secret"}}, "")
	require.Equal(t, "bearer.secret", conn.Subprotocol(), "a browser fails the handshake unless it is echoed")
	plain := h.dial(t, "")
	require.Empty(t, plain.Subprotocol())
}

// dialRefused dials and returns the HTTP status and error code of the
// refused handshake.
func dialRefused(t *testing.T, h *testHub, d *websocket.Dialer) (int, string) {
	t.Helper()
	conn, resp, err := d.DialContext(t.Context(), h.url(""), nil)
	if conn != nil {
		_ = conn.Close()
	}
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	var body errorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NotEmpty(t, body.Error.Message)
	return resp.StatusCode, body.Error.Code
}

// fromAddr is a dialer whose connections come from the loopback address ip.
func fromAddr(ip string) *websocket.Dialer {
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &websocket.Dialer{NetDialContext: nd.DialContext}
}

// TestClientCaps: past the replica's cap a handshake gets 503, past one
// address's cap 429, both as JSON before any upgrade; a slot is free
// again once its connection is gone.
func TestClientCaps(t *testing.T) {
	t.Run("per replica", func(t *testing.T) {
		h := newTestHub(t, Config{MaxClients: 2})
		first := h.dialWith(t, fromAddr("127.0.0.1"), "")
		h.dialWith(t, fromAddr("127.0.0.2"), "")
		status, code := dialRefused(t, h, fromAddr("127.0.0.3"))
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.Equal(t, "too_many_clients", code)
		require.Equal(t, 2, h.Clients())

		require.NoError(t, first.Close())
		require.Eventually(t, func() bool {
			conn, resp, err := fromAddr("127.0.0.3").DialContext(t.Context(), h.url(""), nil)
			if err != nil {
				if resp != nil {
					_ = resp.Body.Close()
				}
				return false
			}
			t.Cleanup(func() { _ = conn.Close() })
			return true
		}, wait, 10*time.Millisecond, "a closed connection frees its slot")
	})
	t.Run("per address", func(t *testing.T) {
		h := newTestHub(t, Config{MaxClientsPerAddr: 2})
		h.dialWith(t, fromAddr("127.0.0.1"), "")
		h.dialWith(t, fromAddr("127.0.0.1"), "")
		status, code := dialRefused(t, h, fromAddr("127.0.0.1"))
		require.Equal(t, http.StatusTooManyRequests, status)
		require.Equal(t, "too_many_connections", code)
		h.dialWith(t, fromAddr("127.0.0.2"), "") // another address still gets in
		require.Equal(t, 3, h.Clients())
		require.Equal(t, 1, h.logs.FilterMessage("websocket client refused: too many from one address").Len())
	})
	t.Run("defaults", func(t *testing.T) {
		h := New(Config{})
		require.Equal(t, DefaultMaxClients, h.cfg.MaxClients)
		require.Equal(t, DefaultMaxClientsPerAddr, h.cfg.MaxClientsPerAddr)
	})
}
