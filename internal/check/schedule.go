package check

import (
	"hash/fnv"
	"time"
)

// NextTick places one dispatch on the check's fixed grid. due is the grid
// point the check was waiting for, now is when the scheduler got to it, and
// catchUp is how late a tick may still be dispatched.
//
// A tick missed by at most catchUp is dispatched late rather than lost, so a
// short outage of the broker, the database or every scheduler leaves no gap
// in the history: each missed tick is probed, once, as soon as dispatch
// resumes. Ticks missed by more than catchUp are skipped: the scheduler
// resumes at the oldest grid point still within catchUp of now, so a long
// outage costs a bounded burst (at most catchUp/interval probes per check)
// instead of hours of backlog fired at the targets. catchUp <= 0 skips
// every missed tick and dispatches only the latest grid point.
//
// The grid never drifts: every tick is due + k*interval for a whole k,
// however late the scheduler runs. next is the grid point after tick.
func NextTick(due, now time.Time, interval, catchUp time.Duration) (tick, next time.Time) {
	if interval <= 0 {
		interval = MinInterval
	}
	tick = due
	if late := now.Sub(due); late > max(catchUp, 0) && late >= interval {
		// Skip whole intervals until the tick is within catchUp of now
		// (with catchUp <= 0: the latest grid point not after now).
		skip := (late - max(catchUp, 0) + interval - 1) / interval
		if catchUp <= 0 {
			skip = late / interval
		}
		tick = due.Add(skip * interval) //nolint:durationcheck // skip is a count of intervals (a quotient of durations)
	}
	return tick, tick.Add(interval)
}

// Skipped returns how many grid points NextTick passed over to reach tick
// from due: the ticks of the check that got no job.
func Skipped(due, tick time.Time, interval time.Duration) int {
	if interval <= 0 {
		interval = MinInterval
	}
	if !tick.After(due) {
		return 0
	}
	return int(tick.Sub(due) / interval)
}

// FirstTick is the first grid point of a newly registered (or resumed)
// check: the earliest point not before now whose offset within the
// interval is a stable hash of the id. Spreading phases by id keeps thousands
// of checks registered at once from probing in one burst, and keeps each
// check's phase the same across restarts and scheduler replicas.
func FirstTick(id string, now time.Time, interval time.Duration) time.Time {
	if interval <= 0 {
		interval = MinInterval
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	// Grid points are whole milliseconds so they survive a round trip
	// through PostgreSQL unchanged.
	phase := time.Duration(h.Sum64() % uint64(interval)).Truncate(time.Millisecond)
	base := now.Truncate(interval).Add(phase)
	for base.Before(now) {
		base = base.Add(interval)
	}
	return base
}
