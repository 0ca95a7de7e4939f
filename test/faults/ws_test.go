//go:build faults

package faults

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient is a dashboard-like WebSocket client: it reads transition events
// from one server replica and remembers which ids it got and when.
type wsClient struct {
	conn *websocket.Conn
	done chan struct{}

	mu  sync.Mutex
	got map[int64]time.Time // event id -> when it arrived
	err error
}

func dialWS(ctx context.Context, addr string) (*wsClient, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		return nil, fmt.Errorf("dial ws://%s/ws: %w", addr, err)
	}
	_ = resp.Body.Close()
	c := &wsClient{conn: conn, done: make(chan struct{}), got: map[int64]time.Time{}}
	go c.read()
	return c, nil
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		var ev struct {
			Type string `json:"type"`
			ID   int64  `json:"id"`
		}
		if err := c.conn.ReadJSON(&ev); err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if ev.Type != "transition" {
			continue
		}
		now := time.Now()
		c.mu.Lock()
		if _, dup := c.got[ev.ID]; !dup {
			c.got[ev.ID] = now
		}
		c.mu.Unlock()
	}
}

// receivedAfter counts the distinct events received after t.
func (c *wsClient) receivedAfter(t time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, at := range c.got {
		if at.After(t) {
			n++
		}
	}
	return n
}

// missing returns the ids of ids not received.
func (c *wsClient) missing(ids []int64) []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int64
	for _, id := range ids {
		if _, ok := c.got[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// readErr is the error that ended the read loop, if it ended.
func (c *wsClient) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *wsClient) close() {
	_ = c.conn.Close()
	<-c.done
}
