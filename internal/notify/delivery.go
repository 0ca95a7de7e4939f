package notify

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// State is where a delivery stands.
type State string

// The states of a delivery. A pending delivery is retried until it is
// delivered or its retries run out (MaxAge), when it is failed.
const (
	StatePending   State = "pending"
	StateDelivered State = "delivered"
	StateFailed    State = "failed"
)

// Delivery is one message owed to one channel: a transition, or a
// reminder of one. Its ID is what X-Vigil-Delivery carries and stays the
// same across retries.
type Delivery struct {
	ID           string
	ChannelID    string
	TransitionID int64
	ServiceID    string
	Reminder     bool
	State        State
	Attempts     int
	StatusCode   int
	Error        string
	CreatedAt    time.Time
	DeliveredAt  time.Time
}

// DeliveryQuery pages a channel's deliveries, newest first.
type DeliveryQuery struct {
	Limit  int
	Cursor string
}

// Job is a claimed delivery with everything a provider needs to send it.
type Job struct {
	Delivery Delivery
	Channel  Channel
	// Transition is the change being told; for a reminder, the change to
	// DOWN it repeats.
	Transition check.Transition
	// URL and Tags are the check's, at the time of sending.
	URL  string
	Tags []string
	// Quorum is the check's quorum at the time of sending (0 for a check
	// without regions): how many of Transition.Regions must be DOWN for
	// the check to be DOWN. Messages print it next to the regions' states.
	Quorum int
	// Lease proves the claim: an outcome is written back only while the
	// lease is still the one this claim took.
	Lease string
}

// Attempt is what one try to send came to.
type Attempt struct {
	// StatusCode is the receiver's HTTP (or SMTP) status, 0 when none came.
	StatusCode int
	// Err is nil when the receiver took the message; its text is cleaned
	// before it is stored.
	Err error
}

// Outcome is what the Dispatcher writes back for a claimed delivery.
type Outcome struct {
	State       State
	StatusCode  int
	Error       string
	NextAttempt time.Time
	DeliveredAt time.Time
}

// NewDeliveryID is an id for a message sent outside the queue (the test
// message), of the same shape as the queue's: 32 hex characters.
func NewDeliveryID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
