package broadcast

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/check"
)

// ReplayFunc returns logged transitions with an id above afterID in
// ascending id order, at most limit of them.
type ReplayFunc func(ctx context.Context, afterID int64, limit int) ([]check.Transition, error)

// Config configures a Hub. Zero fields take the Default… values.
type Config struct {
	// Replay serves ?since=; a Hub without it refuses since with 400.
	Replay ReplayFunc
	Logger *zap.Logger
	// BufferSize is how many events may wait for one client before it
	// counts as too slow and is disconnected.
	BufferSize int
	// PingInterval is how often the server pings; PongWait is how long it
	// waits for any pong before it gives the peer up for dead.
	PingInterval time.Duration
	PongWait     time.Duration
	// WriteWait bounds one write to a client.
	WriteWait time.Duration
	// DedupSize is how many recent event ids are remembered to drop
	// repeated deliveries.
	DedupSize int
	// ReplayPageSize is how many transitions one Replay call asks for.
	ReplayPageSize int
	// MaxClients caps the connections the hub holds at once (503 past
	// it), MaxClientsPerAddr those of one remote IP address (429 past
	// it), so that one careless or hostile caller cannot take every slot.
	// The address is the connection's own: Vigil knows no trusted proxy
	// whose X-Forwarded-For it could believe.
	MaxClients        int
	MaxClientsPerAddr int
	// Authorize, when set, must approve a request before it is upgraded.
	Authorize func(*http.Request) bool
	// CheckOrigin replaces gorilla's same-origin check when set.
	CheckOrigin func(*http.Request) bool
	// Subprotocol, when set, names the subprotocol to accept for a request
	// ("" accepts none). Browsers cannot set headers on a WebSocket, so
	// they send credentials as a subprotocol, and fail the handshake
	// unless the server echoes it.
	Subprotocol func(*http.Request) string
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultBufferSize
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PongWait <= 0 {
		c.PongWait = DefaultPongWait
	}
	if c.WriteWait <= 0 {
		c.WriteWait = DefaultWriteWait
	}
	if c.DedupSize <= 0 {
		c.DedupSize = DefaultDedupSize
	}
	if c.ReplayPageSize <= 0 {
		c.ReplayPageSize = DefaultReplayPageSize
	}
	if c.MaxClients <= 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.MaxClientsPerAddr <= 0 {
		c.MaxClientsPerAddr = DefaultMaxClientsPerAddr
	}
}

// Hub is the set of connected clients. It is an http.Handler for GET /ws.
type Hub struct {
	cfg      Config
	log      *zap.Logger
	upgrader websocket.Upgrader

	mu      sync.Mutex
	clients map[*client]struct{}
	// admitted counts the connections past the caps, upgraded or about
	// to be, in total and per remote address.
	admitted int
	perAddr  map[string]int
	seen     *recentIDs
	closed   bool
	// running counts ServeHTTP calls past registration, so Close can
	// wait for every connection to be torn down.
	running sync.WaitGroup
}

// New returns a Hub with no clients.
func New(cfg Config) *Hub {
	cfg.setDefaults()
	return &Hub{
		cfg:      cfg,
		log:      cfg.Logger,
		upgrader: websocket.Upgrader{CheckOrigin: cfg.CheckOrigin},
		clients:  map[*client]struct{}{},
		perAddr:  map[string]int{},
		seen:     newRecentIDs(cfg.DedupSize),
	}
}

// outbound is one event ready to write: encoded once, whatever the number
// of clients.
type outbound struct {
	id  int64
	msg *websocket.PreparedMessage
}

func prepare(t check.Transition) (outbound, error) {
	return prepareEvent(t.ID, NewEvent(t))
}

func prepareEvent(id int64, ev Event) (outbound, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return outbound{}, err
	}
	msg, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		return outbound{}, err
	}
	return outbound{id: id, msg: msg}, nil
}

// Scope narrows what one client is sent. The zero Scope sends everything,
// as GET /ws does for the dashboard.
type Scope struct {
	// Allow, when set, reports whether the client may see events of the
	// check with an id; others are never sent to it, live or replayed.
	// Publish calls it with the hub locked: it must be cheap and must not
	// call back into the hub.
	Allow func(checkID string) bool
	// Redact leaves error texts out of the client's events: they often
	// name internal hosts, which a public status page must not show.
	Redact bool
}

func (s Scope) allows(checkID string) bool { return s.Allow == nil || s.Allow(checkID) }

// event is the wire form of t for a client in s.
func (s Scope) event(t check.Transition) Event {
	ev := NewEvent(t)
	if s.Redact {
		ev.Error = ""
	}
	return ev
}

// Publish sends t to every client. It never blocks on a client: one whose
// buffer is full is disconnected instead. A transition whose id was
// published recently is dropped, because the broker delivers at least
// once. An id of 0 (never logged) is never deduplicated.
func (h *Hub) Publish(t check.Transition) {
	ev, err := prepare(t)
	if err != nil {
		h.log.Error("encode transition", zap.String("service", t.Service), zap.String("check_id", t.CheckID), zap.Error(err))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || t.ID != 0 && !h.seen.add(t.ID) {
		return
	}
	var redacted *outbound
	for c := range h.clients {
		if !c.scope.allows(t.CheckID) {
			continue
		}
		out := ev
		if c.scope.Redact {
			if redacted == nil {
				r, err := prepareEvent(t.ID, c.scope.event(t))
				if err != nil {
					continue // NewEvent marshalled above; this cannot fail differently
				}
				redacted = &r
			}
			out = *redacted
		}
		select {
		case c.send <- out:
		default:
			delete(h.clients, c)
			h.log.Warn("websocket client too slow, disconnecting", zap.String("remote", c.remote),
				zap.Int("buffer", h.cfg.BufferSize))
			c.stop(websocket.ClosePolicyViolation, "too slow")
		}
	}
}

// Clients is the number of connected clients.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Close disconnects every client with 1001 (going away), refuses new ones
// and returns once all connections are torn down.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		c.stop(websocket.CloseGoingAway, "server shutting down")
	}
	h.mu.Unlock()
	h.running.Wait()
}

// register adds c unless the hub is closed.
func (h *Hub) register(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	h.running.Add(1)
	return true
}

func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
}

// admit takes a slot for a connection from addr, or returns the status
// to refuse it with. A slot is held from before the upgrade until the
// connection is gone, so a burst of handshakes cannot overshoot the caps.
func (h *Hub) admit(addr string) (release func(), status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.admitted >= h.cfg.MaxClients:
		return nil, http.StatusServiceUnavailable
	case h.perAddr[addr] >= h.cfg.MaxClientsPerAddr:
		return nil, http.StatusTooManyRequests
	}
	h.admitted++
	h.perAddr[addr]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.admitted--
		h.perAddr[addr]--
		if h.perAddr[addr] <= 0 {
			delete(h.perAddr, addr)
		}
	}, 0
}

// remoteIP is the address part of r.RemoteAddr: one caller with many
// source ports is still one caller.
func remoteIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

func (h *Hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// httpError answers before the upgrade in the REST API's error shape.
func httpError(w http.ResponseWriter, status int, code, field, message string) {
	var b errorBody
	b.Error.Code, b.Error.Field, b.Error.Message = code, field, message
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(b)
}

// refuse answers a client admit turned away with status.
func (h *Hub) refuse(w http.ResponseWriter, r *http.Request, status int) {
	w.Header().Set("Retry-After", "30")
	if status == http.StatusServiceUnavailable {
		h.log.Warn("websocket client refused: too many clients", zap.String("remote", r.RemoteAddr),
			zap.Int("max_clients", h.cfg.MaxClients))
		httpError(w, status, "too_many_clients", "", "this server has as many WebSocket clients as it serves; try again later")
		return
	}
	h.log.Info("websocket client refused: too many from one address", zap.String("remote", r.RemoteAddr),
		zap.Int("max_clients_per_addr", h.cfg.MaxClientsPerAddr))
	httpError(w, status, "too_many_connections", "", "this address holds as many WebSocket connections as it may")
}

// upgrade switches the request to the WebSocket protocol, with the
// subprotocol the configuration picks for it.
func (h *Hub) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	var header http.Header
	if h.cfg.Subprotocol != nil {
		if p := h.cfg.Subprotocol(r); p != "" {
			header = http.Header{"Sec-Websocket-Protocol": {p}}
		}
	}
	return h.upgrader.Upgrade(w, r, header)
}

// ServeHTTP upgrades the request and streams events until the client goes
// away, is too slow, or the hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.ServeScoped(w, r, Scope{})
}

// ServeScoped is ServeHTTP for a client that may see only what scope
// allows: a status page's live feed, filtered here on the server so that
// nothing about other checks ever reaches the browser.
func (h *Hub) ServeScoped(w http.ResponseWriter, r *http.Request, scope Scope) {
	if h.cfg.Authorize != nil && !h.cfg.Authorize(r) {
		httpError(w, http.StatusUnauthorized, "unauthorized", "", "authentication required")
		return
	}
	since, replay, err := ParseSince(r.URL.Query().Get("since"))
	if err != nil {
		httpError(w, http.StatusBadRequest, "invalid_parameter", "since", "since: "+err.Error())
		return
	}
	if replay && h.cfg.Replay == nil {
		httpError(w, http.StatusBadRequest, "invalid_parameter", "since", "since: this server keeps no event log to replay")
		return
	}
	if h.isClosed() {
		httpError(w, http.StatusServiceUnavailable, "unavailable", "", "server shutting down")
		return
	}
	release, refused := h.admit(remoteIP(r))
	if refused != 0 {
		h.refuse(w, r, refused)
		return
	}
	defer release()
	conn, err := h.upgrade(w, r)
	if err != nil {
		// The upgrader has already answered with an HTTP error.
		h.log.Debug("websocket upgrade failed", zap.String("remote", r.RemoteAddr), zap.Error(err))
		return
	}
	c := &client{
		hub:    h,
		conn:   conn,
		remote: r.RemoteAddr,
		send:   make(chan outbound, h.cfg.BufferSize),
		done:   make(chan struct{}),
		scope:  scope,
	}
	// Subscribe before replaying: events published while the replay runs
	// wait in the buffer, and the writer skips the ones the replay sent.
	if !h.register(c) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(h.cfg.WriteWait))
		_ = conn.Close()
		return
	}
	defer h.running.Done()
	h.log.Debug("websocket client connected", zap.String("remote", c.remote), zap.Bool("replay", replay), zap.Int64("since", since))
	c.run(r.Context(), since, replay)
	h.unregister(c)
	h.log.Debug("websocket client disconnected", zap.String("remote", c.remote), zap.String("reason", c.reason))
}
