package notify

import (
	"time"

	"github.com/vigil-dev/vigil/internal/broadcast"
	"github.com/vigil-dev/vigil/internal/check"
)

// Event is the webhook body: the WebSocket transition event (one
// definition, broadcast.Event, so the two cannot drift) plus the check's
// url and tags and whether this is a reminder.
type Event struct {
	broadcast.Event
	URL      string   `json:"url"`
	Tags     []string `json:"tags"`
	Reminder bool     `json:"reminder"`
}

// NewEvent is the webhook body of j.
func NewEvent(j *Job) Event {
	tags := j.Tags
	if tags == nil {
		tags = []string{}
	}
	return Event{Event: broadcast.NewEvent(j.Transition), URL: j.URL, Tags: tags, Reminder: j.Delivery.Reminder}
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
