package browser

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/app"
)

// wsGate is a TCP proxy in front of a Vigil server that can cut the
// page's WebSockets and refuse new ones while every other request goes
// through: the server side of a dropped connection, without stopping the
// server (the page must still load its counts and rows).
type wsGate struct {
	t       *testing.T
	ln      net.Listener
	backend string

	mu      sync.Mutex
	blocked bool
	sockets map[net.Conn]net.Conn // client -> backend, for /ws only
}

func newWSGate(t *testing.T, backend string) *wsGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &wsGate{t: t, ln: ln, backend: backend, sockets: map[net.Conn]net.Conn{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.handle(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		g.block() // closes the sockets still open
	})
	return g
}

func (g *wsGate) addr() string { return g.ln.Addr().String() }

// handle forwards one client connection. Browsers open a connection of
// its own for each WebSocket, so the first request line tells which
// connections are sockets.
func (g *wsGate) handle(c net.Conn) {
	br := bufio.NewReader(c)
	head, err := br.Peek(len("GET /ws"))
	if err != nil {
		_ = c.Close()
		return
	}
	isWS := bytes.Equal(head, []byte("GET /ws"))
	back, err := net.Dial("tcp", g.backend)
	if err != nil {
		_ = c.Close()
		return
	}
	if isWS {
		g.mu.Lock()
		if g.blocked {
			g.mu.Unlock()
			_ = c.Close()
			_ = back.Close()
			return
		}
		g.sockets[c] = back
		g.mu.Unlock()
	}
	go func() {
		_, _ = io.Copy(back, br)
		_ = back.Close()
	}()
	_, _ = io.Copy(c, back)
	_ = c.Close()
	if isWS {
		g.mu.Lock()
		delete(g.sockets, c)
		g.mu.Unlock()
	}
}

// block cuts every open WebSocket and refuses new ones until unblock.
func (g *wsGate) block() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked = true
	for c, back := range g.sockets {
		_ = c.Close()
		_ = back.Close()
		delete(g.sockets, c)
	}
}

func (g *wsGate) unblock() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked = false
}

// sockets records, through the DevTools protocol, the URL of every
// WebSocket the page opens and the text of every frame it receives.
type sockets struct {
	mu     sync.Mutex
	urls   []string
	frames []string
}

func watchSockets(t *testing.T, p *page) *sockets {
	t.Helper()
	s := &sockets{}
	require.NoError(t, chromedp.Listen(p.ctx, func(ev any) {
		s.mu.Lock()
		defer s.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventWebSocketCreated:
			s.urls = append(s.urls, e.URL)
		case *network.EventWebSocketFrameReceived:
			if e.Response != nil {
				s.frames = append(s.frames, string(e.Response.PayloadData))
			}
		}
	}))
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	return s
}

func (s *sockets) snapshot() (urls, frames []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.urls...), append([]string(nil), s.frames...)
}

type countsJSON struct {
	Total            int            `json:"total"`
	ByStatus         map[string]int `json:"by_status"`
	LastTransitionID int64          `json:"last_transition_id"`
}

// TestDashboardResumesFromCountsBeforeAnyEvent: a page whose WebSocket
// drops before it has seen a single event must resume from the counts'
// last_transition_id, not start over with the next live event (which
// loses what changed while it was away) nor replay from 0.
func TestDashboardResumesFromCountsBeforeAnyEvent(t *testing.T) {
	p := newPage(t)
	log := testLogger(t)
	cfg := baseConfig(t)
	web := start(t, "server", app.RunServer, cfg, log)
	start(t, "worker", app.RunWorker, cfg, log)
	api := apiClient{t: t, base: "http://" + web.addr}
	requireServesDashboard(t, api.base)

	alpha, beta := newTarget(t), newTarget(t)
	a := api.register("alpha", alpha.srv.URL)
	b := api.register("beta", beta.srv.URL)
	require.Eventually(t, func() bool { return api.status(a.ID) == "UP" && api.status(b.ID) == "UP" },
		30*time.Second, 100*time.Millisecond, "both services have their first result")
	var before countsJSON
	api.call(http.MethodGet, "/api/v1/services/counts", nil, http.StatusOK, &before)
	require.Positive(t, before.LastTransitionID, "the first results were logged as transitions")

	gate := newWSGate(t, web.addr)
	socks := watchSockets(t, p)
	p.do(chromedp.Navigate("http://" + gate.addr() + "/"))
	require.Eventually(t, func() bool {
		rs := p.rows()
		return len(rs) == 2 && rs[0].State == "UP" && rs[1].State == "UP" &&
			p.text(`.chip-count[data-count="UP"]`) == "2" && p.attr("#connection", "data-state") == "live"
	}, 30*time.Second, 100*time.Millisecond, "the page is live with its rows and counts; saw %+v", p.rows())

	var loaded countsJSON
	api.call(http.MethodGet, "/api/v1/services/counts", nil, http.StatusOK, &loaded)
	require.Equal(t, before.LastTransitionID, loaded.LastTransitionID, "nothing changed since the page loaded")
	_, frames := socks.snapshot()
	for _, f := range frames {
		require.NotContains(t, f, `"transition"`, "the page has seen no event yet")
	}

	// The server side drops the socket; alpha fails while the page is away.
	gate.block()
	require.Eventually(t, func() bool { return p.attr("#connection", "data-state") == "offline" },
		15*time.Second, 50*time.Millisecond, "the page notices the drop")
	alpha.set(http.StatusInternalServerError)
	require.Eventually(t, func() bool { return api.status(a.ID) == "DOWN" },
		30*time.Second, 100*time.Millisecond, "alpha goes DOWN while the page is offline")
	require.Equal(t, "UP", byName(p.rows())["alpha"].State, "nothing told the page yet")

	gate.unblock()
	// The page's own path for a network that comes back: retry at once
	// instead of waiting out the backoff.
	mustEval[bool](p, `window.dispatchEvent(new Event('online'))`)
	require.Eventually(t, func() bool {
		return p.attr("#connection", "data-state") == "live" && byName(p.rows())["alpha"].State == "DOWN"
	}, 60*time.Second, 100*time.Millisecond, "the page reconnects and gets the missed transition; saw %+v", p.rows())

	urls, frames := socks.snapshot()
	require.GreaterOrEqual(t, len(urls), 2, "a first socket and at least one reconnect: %v", urls)
	first, err := url.Parse(urls[0])
	require.NoError(t, err)
	require.False(t, first.Query().Has("since"), "the first socket starts with the next live event: %s", urls[0])
	for _, raw := range urls[1:] {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		require.Equal(t, strconv.FormatInt(before.LastTransitionID, 10), u.Query().Get("since"),
			"a reconnect before any event resumes from the counts' last_transition_id: %s", raw)
	}

	// Exactly once: in the frames, in what screen readers hear, in the counts.
	n := 0
	for _, f := range frames {
		if strings.Contains(f, `"transition"`) && strings.Contains(f, a.ID) {
			n++
		}
	}
	require.Equal(t, 1, n, "alpha's transition came in one frame: %v", frames)
	require.Eventually(t, func() bool {
		return strings.Count(p.text("#announcer"), "alpha is DOWN, was UP") == 1
	}, 10*time.Second, 100*time.Millisecond, "announced once; heard %q", p.text("#announcer"))
	require.Equal(t, "1", p.text(`.chip-count[data-count="DOWN"]`))
	require.Equal(t, "1", p.text(`.chip-count[data-count="UP"]`))
	require.Equal(t, "UP", byName(p.rows())["beta"].State)
	p.requireNoProblems()
}
