package broadcast

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// closeGrace bounds the goodbye: how long the server tries to send its
// close frame and then waits for the client's reply before it drops the
// connection. A client that stopped reading gets no longer than this.
const closeGrace = time.Second

// client is one WebSocket connection. Three goroutines serve it: the
// writer (ServeHTTP's own), a reader that only watches for pongs and the
// client's close, and a closer that says goodbye once the client is
// stopped for any reason.
type client struct {
	hub    *Hub
	conn   *websocket.Conn
	remote string
	send   chan outbound
	done   chan struct{}
	scope  Scope

	once sync.Once
	// code and reason are the close frame to send; written once, before
	// done is closed.
	code   int
	reason string
}

// stop ends the client; the first caller's code and reason win. It never
// blocks, so Publish may call it with the hub locked.
func (c *client) stop(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.done)
	})
}

func (c *client) run(ctx context.Context, since int64, replay bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readerDone := make(chan struct{})
	closerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		c.readLoop()
	}()
	go func() {
		defer close(closerDone)
		<-c.done
		cancel() // abandons a replay in progress
		c.closeConn(readerDone)
	}()
	c.writeLoop(ctx, since, replay)
	<-closerDone
	<-readerDone
}

// closeConn sends the close frame, gives the client a moment to answer it
// (a clean close handshake), then drops the connection.
func (c *client) closeConn(readerDone <-chan struct{}) {
	grace := min(c.hub.cfg.WriteWait, closeGrace)
	err := c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.reason), time.Now().Add(grace))
	if err == nil {
		select {
		case <-readerDone:
		case <-time.After(grace):
		}
	}
	_ = c.conn.Close()
}

// readLoop discards whatever the client sends; it is there to process
// pongs and the client's close frame, and to notice a dead peer.
func (c *client) readLoop() {
	pongWait := c.hub.cfg.PongWait
	c.conn.SetReadLimit(MaxMessageSize)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, r, err := c.conn.NextReader()
		if err == nil {
			// Read the message out rather than skipping to the next one:
			// gorilla checks the size limit only while a message is read.
			_, err = io.Copy(io.Discard, r)
		}
		if err != nil {
			c.stop(readErrorClose(err))
			return
		}
	}
}

func readErrorClose(err error) (int, string) {
	var (
		closeErr *websocket.CloseError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &closeErr):
		return websocket.CloseNormalClosure, ""
	case errors.Is(err, websocket.ErrReadLimit):
		return websocket.CloseMessageTooBig, "message too big"
	case errors.As(err, &netErr) && netErr.Timeout():
		return websocket.ClosePolicyViolation, "pong timeout"
	}
	return websocket.CloseNormalClosure, "connection lost"
}

// liveFilter drops the live events a replay already sent, or that the
// client had before it reconnected.
type liveFilter struct {
	active   bool
	since    int64
	last     int64 // highest id replayed
	replayed *recentIDs
}

func (f *liveFilter) skip(id int64) bool {
	switch {
	case !f.active || id == 0:
		return false
	case id <= f.since:
		return true
	case id > f.last:
		return false
	}
	// An id at or below the replay's highest was either replayed, or
	// committed after the replay read past it; only the first is a repeat.
	return f.replayed.has(id) || f.replayed.forgotten(id)
}

func (c *client) writeLoop(ctx context.Context, since int64, replay bool) {
	ping := time.NewTicker(c.hub.cfg.PingInterval)
	defer ping.Stop()
	filter := liveFilter{active: replay, since: since, last: since}
	if replay {
		filter.replayed = newRecentIDs(c.hub.cfg.DedupSize)
		if !c.replay(ctx, &filter, ping) {
			return
		}
	}
	for {
		select {
		case <-c.done:
			return
		case ev := <-c.send:
			if filter.skip(ev.id) {
				continue
			}
			if !c.write(func() error { return c.conn.WritePreparedMessage(ev.msg) }) {
				return
			}
		case <-ping.C:
			if !c.ping() {
				return
			}
		}
	}
}

// replay sends the logged transitions after filter.since, page by page,
// and reports whether the client is still there to go live.
func (c *client) replay(ctx context.Context, filter *liveFilter, ping *time.Ticker) bool {
	pageSize := c.hub.cfg.ReplayPageSize
	for {
		page, err := c.hub.cfg.Replay(ctx, filter.last, pageSize)
		if err != nil {
			if ctx.Err() == nil {
				c.hub.log.Error("replay transitions", zap.String("remote", c.remote), zap.Int64("since", filter.last), zap.Error(err))
				c.stop(websocket.CloseInternalServerErr, "replay failed")
			}
			return false
		}
		progressed := false
		for _, t := range page {
			if t.ID <= filter.last {
				continue // not what was asked for; never send an id twice
			}
			if !c.scope.allows(t.CheckID) {
				filter.last, progressed = t.ID, true
				continue
			}
			data, err := json.Marshal(c.scope.event(t))
			if err != nil {
				c.hub.log.Error("encode transition", zap.String("service", t.Service), zap.String("check_id", t.CheckID), zap.Error(err))
				continue
			}
			if !c.write(func() error { return c.conn.WriteMessage(websocket.TextMessage, data) }) {
				return false
			}
			filter.replayed.add(t.ID)
			filter.last, progressed = t.ID, true
		}
		select {
		case <-c.done:
			return false
		case <-ping.C:
			if !c.ping() {
				return false
			}
		default:
		}
		if len(page) < pageSize || !progressed {
			return true
		}
	}
}

func (c *client) write(send func() error) bool {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteWait))
	if err := send(); err != nil {
		c.stop(websocket.CloseNormalClosure, "write failed")
		return false
	}
	return true
}

func (c *client) ping() bool {
	if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteWait)); err != nil {
		c.stop(websocket.CloseNormalClosure, "ping failed")
		return false
	}
	return true
}
