package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// ErrMalformed marks a message body that does not decode into a valid job or
// transition. Such a message can never succeed, so it is dead-lettered (jobs)
// or dropped (transitions) instead of retried.
var ErrMalformed = errors.New("malformed message")

const contentTypeJSON = "application/json"

// EncodeJob is the wire form of a job: JSON with check.Job's tags.
func EncodeJob(j check.Job) ([]byte, error) {
	if err := validateJob(&j); err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode job %s: %w", j.CheckID, err)
	}
	return b, nil
}

// DecodeJob parses and validates a job body. Every failure wraps
// ErrMalformed. Unknown fields are accepted on purpose: during a rolling
// upgrade a newer scheduler may add fields that older workers must not
// dead-letter the whole queue over.
func DecodeJob(body []byte) (check.Job, error) {
	var j check.Job
	if err := decodeOne(body, &j); err != nil {
		return check.Job{}, fmt.Errorf("%w: job: %w", ErrMalformed, err)
	}
	if err := validateJob(&j); err != nil {
		return check.Job{}, err
	}
	return j, nil
}

// validateJob rejects what no worker could probe. It is deliberately
// shallower than check.Validate: the registry already validated the check,
// and a job must still be probed if the rules there tighten later.
func validateJob(j *check.Job) error {
	switch {
	case strings.TrimSpace(j.CheckID) == "":
		return fmt.Errorf("%w: job: check_id is missing", ErrMalformed)
	case j.Type != check.TypeHTTP && j.Type != check.TypeGRPC:
		return fmt.Errorf("%w: job %s: unknown type %q", ErrMalformed, j.CheckID, j.Type)
	case j.URL == "":
		return fmt.Errorf("%w: job %s: url is missing", ErrMalformed, j.CheckID)
	case j.Timeout <= 0:
		return fmt.Errorf("%w: job %s: timeout_ns must be above 0", ErrMalformed, j.CheckID)
	case j.ScheduledAt.IsZero():
		return fmt.Errorf("%w: job %s: scheduled_at is missing", ErrMalformed, j.CheckID)
	}
	return nil
}

// JobMessageID identifies one job on the wire: the check and the grid point
// it stands for. Redeliveries and re-publications of the same tick carry the
// same id, which is what lets consumers and the broker's tooling spot them.
func JobMessageID(j check.Job) string {
	return j.CheckID + "/" + strconv.FormatInt(j.ScheduledAt.UnixMilli(), 10)
}

// transitionWire is a transition as JSON. check.Transition carries no tags
// because the domain package does no I/O; the field names here are the
// WebSocket contract's.
type transitionWire struct {
	ID          int64       `json:"id"`
	CheckID     string      `json:"check_id"`
	Service     string      `json:"service"`
	From        check.State `json:"from"`
	To          check.State `json:"to"`
	At          time.Time   `json:"at"`
	LatencyMS   int64       `json:"latency_ms"`
	Error       string      `json:"error,omitempty"`
	ScheduledAt time.Time   `json:"scheduled_at,omitzero"`
}

// EncodeTransition is the wire form of a transition. Latency travels in
// whole milliseconds, as the WebSocket contract shows it.
func EncodeTransition(t check.Transition) ([]byte, error) {
	w := transitionWire{
		ID:          t.ID,
		CheckID:     t.CheckID,
		Service:     t.Service,
		From:        t.From,
		To:          t.To,
		At:          t.At,
		LatencyMS:   t.Latency.Milliseconds(),
		Error:       t.Error,
		ScheduledAt: t.ScheduledAt,
	}
	if err := validateTransition(&w); err != nil {
		return nil, fmt.Errorf("encode transition: %w", err)
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode transition %s: %w", t.CheckID, err)
	}
	return b, nil
}

// DecodeTransition parses and validates a transition body. Every failure
// wraps ErrMalformed.
func DecodeTransition(body []byte) (check.Transition, error) {
	var w transitionWire
	if err := decodeOne(body, &w); err != nil {
		return check.Transition{}, fmt.Errorf("%w: transition: %w", ErrMalformed, err)
	}
	if err := validateTransition(&w); err != nil {
		return check.Transition{}, err
	}
	return check.Transition{
		ID:          w.ID,
		CheckID:     w.CheckID,
		Service:     w.Service,
		From:        w.From,
		To:          w.To,
		At:          w.At,
		Latency:     time.Duration(w.LatencyMS) * time.Millisecond,
		Error:       w.Error,
		ScheduledAt: w.ScheduledAt,
	}, nil
}

// maxLatencyMS keeps latency_ms * time.Millisecond inside a Duration.
const maxLatencyMS = int64(1<<63-1) / int64(time.Millisecond)

func validateTransition(w *transitionWire) error {
	if strings.TrimSpace(w.CheckID) == "" {
		return fmt.Errorf("%w: transition: check_id is missing", ErrMalformed)
	}
	if _, ok := check.ParseState(string(w.From)); !ok {
		return fmt.Errorf("%w: transition %s: unknown from state %q", ErrMalformed, w.CheckID, w.From)
	}
	if _, ok := check.ParseState(string(w.To)); !ok {
		return fmt.Errorf("%w: transition %s: unknown to state %q", ErrMalformed, w.CheckID, w.To)
	}
	if w.At.IsZero() {
		return fmt.Errorf("%w: transition %s: at is missing", ErrMalformed, w.CheckID)
	}
	if w.LatencyMS < 0 || w.LatencyMS > maxLatencyMS {
		return fmt.Errorf("%w: transition %s: latency_ms out of range", ErrMalformed, w.CheckID)
	}
	return nil
}

// decodeOne reads exactly one JSON object: trailing data means the body is
// not what a Vigil publisher wrote.
func decodeOne(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 || bytes.TrimSpace(body)[0] != '{' {
		return errors.New("body is not a JSON object")
	}
	// Unmarshal refuses anything but whitespace after the object, and is
	// much cheaper than a Decoder on the hot path of every job.
	err := json.Unmarshal(body, v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) && strings.Contains(syntax.Error(), "after top-level value") {
		return errors.New("trailing data after the JSON object")
	}
	return err
}
