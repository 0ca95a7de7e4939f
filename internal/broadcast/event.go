package broadcast

import (
	"errors"
	"strconv"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// Event is the one message the server sends over the WebSocket: a check's
// state change.
type Event struct {
	Type      string  `json:"type"`
	ID        int64   `json:"id"`
	ServiceID string  `json:"service_id"`
	Service   string  `json:"service"`
	From      string  `json:"from"`
	To        string  `json:"to"`
	At        string  `json:"at"`
	LatencyMs float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	// Regions are the states, by region, of a check probed from several
	// regions when it changed; omitted for a check without regions.
	Regions map[string]string `json:"regions,omitempty"`
}

// EventTypeTransition is the type of every Event so far; the field exists
// so clients can ignore message kinds added later.
const EventTypeTransition = "transition"

// timeFormat matches the REST API's: RFC 3339, UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// NewEvent is the wire form of t.
func NewEvent(t check.Transition) Event {
	return Event{
		Type:      EventTypeTransition,
		ID:        t.ID,
		ServiceID: t.CheckID,
		Service:   t.Service,
		From:      string(t.From),
		To:        string(t.To),
		At:        t.At.UTC().Format(timeFormat),
		LatencyMs: float64(t.Latency.Microseconds()) / 1000,
		Error:     t.Error,
		Regions:   regionStates(t.Regions),
	}
}

// regionStates is t.Regions as the wire spells it; nil stays nil.
func regionStates(rs map[string]check.State) map[string]string {
	if len(rs) == 0 {
		return nil
	}
	out := make(map[string]string, len(rs))
	for r, st := range rs {
		out[r] = string(st)
	}
	return out
}

// ErrInvalidSince is returned by ParseSince for anything but an event id.
var ErrInvalidSince = errors.New("since must be a non-negative event id")

// ParseSince reads the ?since= query parameter: the id of the last event a
// reconnecting client saw. replay is false when raw is empty (live events
// only); since=0 replays the whole log.
func ParseSince(raw string) (afterID int64, replay bool, err error) {
	if raw == "" {
		return 0, false, nil
	}
	for _, r := range raw {
		// ParseInt alone would take "+7"; an id is digits only.
		if r < '0' || r > '9' {
			return 0, false, ErrInvalidSince
		}
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, false, ErrInvalidSince
	}
	return id, true, nil
}

// Defaults for Config's zero fields.
const (
	DefaultBufferSize     = 256
	DefaultPingInterval   = 30 * time.Second
	DefaultPongWait       = 60 * time.Second
	DefaultWriteWait      = 10 * time.Second
	DefaultDedupSize      = 4096
	DefaultReplayPageSize = 500
	// DefaultMaxClients and DefaultMaxClientsPerAddr bound the clients of
	// one replica: each holds a connection, three goroutines and a buffer.
	DefaultMaxClients        = 10_000
	DefaultMaxClientsPerAddr = 64
	// MaxMessageSize bounds what a client may send; the server reads
	// client messages only to discard them.
	MaxMessageSize = 4 << 10
)
