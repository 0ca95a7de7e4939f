package check

import "time"

// StaleTicks is how many of its check's intervals a region's newest result
// may trail the newest result of any region before the region counts as
// UNKNOWN: its workers are gone, or its jobs expire before they run. Three
// leaves room for a region that is a tick behind the others (results of
// one tick arrive from the regions in any order) and for one lost job.
const StaleTicks = 3

// Vote decides the state of a check with regions from each region's
// snapshot (states, by region; a region without one has sent no result
// yet). A region counts as UNKNOWN when it has no snapshot or its newest
// tick is more than stale older than newest, the newest tick of any
// region. Then:
//
//   - DOWN when at least quorum regions are DOWN;
//   - otherwise UP when at least one region is UP;
//   - otherwise UNKNOWN: nothing says the check is up, and too few regions
//     say it is down.
//
// An UNKNOWN region thus never counts toward DOWN: losing a region's
// workers makes the check harder to page on, never easier. Vote also
// returns every listed region's state as counted, for transitions.
// Regions that states holds but regions does not list (removed from the
// check) count for nothing.
func Vote(regions []string, quorum int, states map[string]Snapshot, newest time.Time, stale time.Duration) (State, map[string]State) {
	seen := make(map[string]State, len(regions))
	up, down := 0, 0
	for _, r := range regions {
		st := StateUnknown
		if s, ok := states[r]; ok && s.State != "" && !s.LastScheduledAt.Before(newest.Add(-stale)) {
			st = s.State
		}
		switch st {
		case StateUp:
			up++
		case StateDown:
			down++
		case StateUnknown, StatePaused:
			// Neither says anything about the target.
		}
		seen[r] = st
	}
	switch {
	case down >= max(quorum, 1):
		return StateDown, seen
	case up > 0:
		return StateUp, seen
	}
	return StateUnknown, seen
}
