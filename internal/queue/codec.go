package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// MaxJobsPerMessage bounds the jobs one message may carry. Publishers need
// far fewer (Config.JobsPerMessage defaults to 50), and a bound lets a
// worker refuse a foreign or corrupt body before decoding allocates for it.
const MaxJobsPerMessage = 10_000

// The AMQP message types of job messages: one job as a JSON object, or
// several as a JSON array of such objects.
const (
	typeJob  = "vigil.job"
	typeJobs = "vigil.jobs"
)

// EncodeJob is the wire form of a single job: JSON with check.Job's tags.
// It is also the body of a message that carries one job, which every
// version of the worker can read.
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

// EncodeJobs is the wire form of several jobs in one message: a JSON array
// of what EncodeJob writes. Carrying many jobs per message divides the
// broker's per-message cost (persisting, confirming, delivering, acking) by
// their number. docs/operations.md says in which order to upgrade from a
// version that sent one job per message.
func EncodeJobs(jobs []check.Job) ([]byte, error) {
	switch {
	case len(jobs) == 0:
		return nil, errors.New("encode jobs: no jobs")
	case len(jobs) > MaxJobsPerMessage:
		return nil, fmt.Errorf("encode jobs: %d jobs exceed the maximum of %d per message", len(jobs), MaxJobsPerMessage)
	}
	for i := range jobs {
		if err := validateJob(&jobs[i]); err != nil {
			return nil, fmt.Errorf("encode jobs: %w", err)
		}
	}
	b, err := json.Marshal(jobs)
	if err != nil {
		return nil, fmt.Errorf("encode jobs: %w", err)
	}
	return b, nil
}

// DecodeJob parses and validates a single-job body (a JSON object). Every
// failure wraps ErrMalformed. Unknown fields are accepted on purpose: during
// a rolling upgrade a newer scheduler may add fields that older workers must
// not dead-letter the whole queue over.
func DecodeJob(body []byte) (check.Job, error) {
	var j check.Job
	if err := decodeOne(body, '{', &j); err != nil {
		return check.Job{}, fmt.Errorf("%w: job: %w", ErrMalformed, err)
	}
	if err := validateJob(&j); err != nil {
		return check.Job{}, err
	}
	return j, nil
}

// DecodeJobs parses and validates a job message's body: either one job (a
// JSON object, the format of every publisher before multi-job messages) or
// a JSON array of 1 to MaxJobsPerMessage jobs. The message is one unit: if
// any job in it is invalid the whole body is malformed, since the broker can
// only settle it as a whole. Every failure wraps ErrMalformed; unknown fields
// are accepted as in DecodeJob.
func DecodeJobs(body []byte) ([]check.Job, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		j, err := DecodeJob(body)
		if err != nil {
			return nil, err
		}
		return []check.Job{j}, nil
	}
	// Each element costs a check.Job (~150 bytes) while it decodes, even
	// one that turns out invalid, and an element can be two bytes long: a
	// big enough body must show it is within bounds before it is decoded.
	// Smaller bodies cannot hold too many elements and skip the scan.
	if len(trimmed) > 2*MaxJobsPerMessage && tooManyElements(trimmed, MaxJobsPerMessage) {
		return nil, fmt.Errorf("%w: jobs: more than %d jobs in one message", ErrMalformed, MaxJobsPerMessage)
	}
	var jobs []check.Job
	if err := decodeOne(body, '[', &jobs); err != nil {
		return nil, fmt.Errorf("%w: jobs: %w", ErrMalformed, err)
	}
	switch {
	case len(jobs) == 0:
		return nil, fmt.Errorf("%w: jobs: empty array", ErrMalformed)
	case len(jobs) > MaxJobsPerMessage:
		return nil, fmt.Errorf("%w: jobs: more than %d jobs in one message", ErrMalformed, MaxJobsPerMessage)
	}
	for i := range jobs {
		if err := validateJob(&jobs[i]); err != nil {
			return nil, fmt.Errorf("job %d of %d: %w", i+1, len(jobs), err)
		}
	}
	return jobs, nil
}

// tooManyElements reports whether the JSON array that body starts with has
// more than limit elements, counting the commas at its top level. It does
// not validate anything (json.Unmarshal does that next); on a body that is
// not valid JSON its answer does not matter, as long as it returns.
func tooManyElements(body []byte, limit int) bool {
	depth, commas := 0, 0
	inString, escaped := false, false
	for _, c := range body {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return false
			}
		case ',':
			if depth == 1 {
				commas++
				if commas >= limit {
					return true
				}
			}
		}
	}
	return false
}

// validateJob rejects what no worker could probe. It is deliberately
// shallower than check.Validate: the registry already validated the check,
// and a job must still be probed if the rules there tighten later.
func validateJob(j *check.Job) error {
	switch {
	case strings.TrimSpace(j.CheckID) == "":
		return fmt.Errorf("%w: job: check_id is missing", ErrMalformed)
	case !slices.Contains(check.Types(), j.Type):
		return fmt.Errorf("%w: job %s: unknown type %q", ErrMalformed, j.CheckID, j.Type)
	case j.URL == "":
		return fmt.Errorf("%w: job %s: url is missing", ErrMalformed, j.CheckID)
	case j.Timeout <= 0:
		return fmt.Errorf("%w: job %s: timeout_ns must be above 0", ErrMalformed, j.CheckID)
	case j.ScheduledAt.IsZero():
		return fmt.Errorf("%w: job %s: scheduled_at is missing", ErrMalformed, j.CheckID)
	case j.Region != "" && !check.IsRegionName(j.Region):
		// It names a queue and a stored column.
		return fmt.Errorf("%w: job %s: region %q is not a region name", ErrMalformed, j.CheckID, j.Region)
	}
	return nil
}

// JobMessageID identifies one job on the wire: the check and the grid point
// it stands for. Redeliveries and re-publications of the same tick carry the
// same id, which is what lets consumers and the broker's tooling spot them.
//
// A tick of a check with regions is one job per region; those ids end in
// "@region" so that they differ. A job without a region keeps the id it
// always had.
func JobMessageID(j check.Job) string {
	id := j.CheckID + "/" + strconv.FormatInt(j.ScheduledAt.UnixMilli(), 10)
	if j.Region != "" {
		id += "@" + j.Region
	}
	return id
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
	// Regions are a check with regions' states by region (omitted for a
	// check without regions, whose transitions are what they were).
	Regions map[string]check.State `json:"regions,omitempty"`
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
		Regions:     t.Regions,
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
	if err := decodeOne(body, '{', &w); err != nil {
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
		Regions:     w.Regions,
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
	if len(w.Regions) > check.MaxRegions {
		return fmt.Errorf("%w: transition %s: more than %d regions", ErrMalformed, w.CheckID, check.MaxRegions)
	}
	for r, st := range w.Regions {
		if _, ok := check.ParseState(string(st)); !ok || !check.IsRegionName(r) {
			return fmt.Errorf("%w: transition %s: region %q in state %q", ErrMalformed, w.CheckID, r, st)
		}
	}
	return nil
}

// decodeOne reads exactly one JSON value that starts with open ('{' for an
// object, '[' for an array): trailing data means the body is not what a Vigil
// publisher wrote.
func decodeOne(body []byte, open byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != open {
		if open == '[' {
			return errors.New("body is not a JSON array")
		}
		return errors.New("body is not a JSON object")
	}
	// Unmarshal refuses anything but whitespace after the value, and is
	// much cheaper than a Decoder on the hot path of every job.
	err := json.Unmarshal(body, v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) && strings.Contains(syntax.Error(), "after top-level value") {
		return errors.New("trailing data after the JSON value")
	}
	return err
}
