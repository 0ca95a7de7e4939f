package check

import (
	"hash/fnv"
	"time"
)

// NextTick places one dispatch on the check's fixed grid. due is the
// grid point the check was waiting for and now is when the scheduler got to
// it. tick is the grid point to dispatch: due itself when the scheduler is on
// time, or the latest grid point not after now when it fell behind, so that
// missed ticks are skipped rather than fired in a burst. next is the
// following grid point. The grid never drifts: every tick is
// due + k*interval for a whole k, however late the scheduler runs.
func NextTick(due, now time.Time, interval time.Duration) (tick, next time.Time) {
	if interval <= 0 {
		interval = MinInterval
	}
	tick = due
	if late := now.Sub(due); late >= interval {
		tick = due.Add(late / interval * interval)
	}
	return tick, tick.Add(interval)
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
