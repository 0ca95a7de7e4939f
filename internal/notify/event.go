package notify

import (
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// EventTypeTransition matches the WebSocket event's type.
const EventTypeTransition = "transition"

// timeFormat matches the REST API's and the WebSocket's.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Event is the webhook body: the WebSocket transition event plus the
// check's url and tags and whether this is a reminder.
type Event struct {
	Type      string   `json:"type"`
	ID        int64    `json:"id"`
	ServiceID string   `json:"service_id"`
	Service   string   `json:"service"`
	From      string   `json:"from"`
	To        string   `json:"to"`
	At        string   `json:"at"`
	LatencyMs float64  `json:"latency_ms"`
	Error     string   `json:"error,omitempty"`
	URL       string   `json:"url"`
	Tags      []string `json:"tags"`
	Reminder  bool     `json:"reminder"`
}

// NewEvent is the webhook body of j.
func NewEvent(j *Job) Event {
	t := j.Transition
	tags := j.Tags
	if tags == nil {
		tags = []string{}
	}
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
		URL:       j.URL,
		Tags:      tags,
		Reminder:  j.Delivery.Reminder,
	}
}

// TestJob is the message POST /channels/{id}/test sends: a made-up
// transition to DOWN of a check named "vigil-test", with a delivery id of
// its own so receivers can tell it from real ones.
func TestJob(c Channel, id string, now time.Time) Job {
	return Job{
		Delivery: Delivery{ID: id, ChannelID: c.ID, ServiceID: "vigil-test", State: StatePending, CreatedAt: now},
		Channel:  c,
		Transition: check.Transition{CheckID: "vigil-test", Service: "vigil-test", From: check.StateUp,
			To: check.StateDown, At: now, Error: "this is a test message from vigil"},
		URL:  "https://example.invalid/vigil-test",
		Tags: []string{"test"},
	}
}
