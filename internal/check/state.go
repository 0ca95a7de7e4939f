package check

import "time"

// State is a check's current health as users see it.
type State string

// The states of a check: UNKNOWN until its first results decide, PAUSED
// while paused; see Next for the rules between UP and DOWN.
const (
	StateUnknown State = "UNKNOWN"
	StateUp      State = "UP"
	StateDown    State = "DOWN"
	StatePaused  State = "PAUSED"
)

// ParseState returns the State named s, or false when s names none.
func ParseState(s string) (State, bool) {
	switch st := State(s); st {
	case StateUnknown, StateUp, StateDown, StatePaused:
		return st, true
	}
	return "", false
}

// IsIncident reports whether a change from one state to another is an
// incident as people outside the team read one: the service went DOWN, or
// came back UP from DOWN. A first verdict (UNKNOWN to UP) and pausing or
// resuming are the monitor's own business, not the service's.
func IsIncident(from, to State) bool {
	return to == StateDown || (from == StateDown && to == StateUp)
}

// Thresholds say how many consecutive results of one kind it takes to
// change state. Both are at least 1.
type Thresholds struct {
	Failure int
	Success int
}

// floored returns th with each threshold at least 1: a check stored
// before thresholds were validated, or built without them, behaves as one
// result deciding.
func (th Thresholds) floored() Thresholds {
	return Thresholds{Failure: max(th.Failure, 1), Success: max(th.Success, 1)}
}

// Snapshot is everything the state machine remembers about one check.
type Snapshot struct {
	State                State
	ConsecutiveSuccesses int
	ConsecutiveFailures  int
	// LastScheduledAt is the tick of the newest result applied so far.
	// Results with an older or equal tick are ignored: parallel workers can
	// finish out of order, and a late result must never move state back.
	LastScheduledAt time.Time
	LastCheckedAt   time.Time
	LastLatency     time.Duration
	LastError       string
	LastChangeAt    time.Time
}

// Apply folds one probe result into s and reports whether the state changed.
//
// The rules, in order:
//   - a paused check ignores results (a job queued before the pause may
//     still finish);
//   - a result not newer than the last applied one is ignored;
//   - successes and failures are counted in a row, each resetting the other;
//   - the state becomes DOWN once failures in a row reach th.Failure and UP
//     once successes in a row reach th.Success. From UNKNOWN the same
//     thresholds apply, so with the defaults (1, 1) the first result decides.
func Apply(s Snapshot, r Result, th Thresholds) (Snapshot, bool) {
	if s.State == StatePaused || !r.ScheduledAt.After(s.LastScheduledAt) {
		return s, false
	}
	if s.State == "" {
		s.State = StateUnknown
	}
	th = th.floored()

	next := s
	next.LastScheduledAt = r.ScheduledAt
	next.LastCheckedAt = r.CheckedAt
	next.LastLatency = r.Latency
	next.LastError = r.Error
	if r.Success() {
		next.ConsecutiveSuccesses++
		next.ConsecutiveFailures = 0
		if next.ConsecutiveSuccesses >= th.Success {
			next.State = StateUp
		}
	} else {
		next.ConsecutiveFailures++
		next.ConsecutiveSuccesses = 0
		if next.ConsecutiveFailures >= th.Failure {
			next.State = StateDown
		}
	}
	changed := next.State != s.State
	if changed {
		next.LastChangeAt = r.CheckedAt
	}
	return next, changed
}

// Pause moves s to PAUSED; it reports false when s already was.
func Pause(s Snapshot, at time.Time) (Snapshot, bool) {
	if s.State == StatePaused {
		return s, false
	}
	s.State = StatePaused
	s.ConsecutiveFailures, s.ConsecutiveSuccesses = 0, 0
	s.LastChangeAt = at
	s.LastScheduledAt = latest(s.LastScheduledAt, at)
	return s, true
}

// Resume moves a paused s back to UNKNOWN with fresh counters, so the next
// results decide the state again rather than an outdated pre-pause one.
func Resume(s Snapshot, at time.Time) (Snapshot, bool) {
	if s.State != StatePaused {
		return s, false
	}
	s.State = StateUnknown
	s.ConsecutiveFailures, s.ConsecutiveSuccesses = 0, 0
	s.LastChangeAt = at
	// Results of ticks from before the resume were queued before or during
	// the pause; they must not decide the fresh state.
	s.LastScheduledAt = latest(s.LastScheduledAt, at)
	return s, true
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
