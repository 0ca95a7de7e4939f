package check

import "time"

// StaleTicks is how many of its check's intervals a region's newest result
// may trail the newest result of any region before the region counts as
// UNKNOWN: its workers are gone, or its jobs expire before they run. Three
// leaves room for a region that is a tick behind the others (results of
// one tick arrive from the regions in any order) and for one lost job.
const StaleTicks = 3

// StaleAfter is how far a region's newest tick may trail the newest tick
// of any region of a check with this interval and still count in the
// vote: StaleTicks intervals (of at least MinInterval).
func StaleAfter(interval time.Duration) time.Duration {
	return StaleTicks * max(interval, MinInterval)
}

// NewestTick is the newest tick of any region's snapshot in states,
// listed or not: what a region's staleness is measured from. It is the
// zero time when no region has sent a result.
func NewestTick(states map[string]Snapshot) time.Time {
	var newest time.Time
	for _, s := range states {
		newest = latest(newest, s.LastScheduledAt)
	}
	return newest
}

// Counted is the state a region counts as in the vote, given its snapshot
// (ok false: it has none, having sent no result yet): UNKNOWN when it has
// none or its newest tick is more than stale older than newest, the newest
// tick of any region; otherwise its own state.
//
// Everything that shows a region's state (the API's region_states, the
// vigil_region_checks gauge) shows it as counted, so what a reader sees
// is what decided the check's state. The store's grouped query for the
// gauge repeats this rule in SQL; its test holds the two together.
func Counted(s Snapshot, ok bool, newest time.Time, stale time.Duration) State {
	if !ok || s.State == "" || s.LastScheduledAt.Before(newest.Add(-stale)) {
		return StateUnknown
	}
	return s.State
}

// CountedRegions is every listed region's state as the vote counts it,
// from the regions' snapshots of a check with the given interval (states
// may hold regions the check no longer lists: they count for nothing but
// their ticks still move newest, as in Fold). It is nil for a check
// without regions.
func CountedRegions(regions []string, states map[string]Snapshot, interval time.Duration) map[string]State {
	if len(regions) == 0 {
		return nil
	}
	newest, stale := NewestTick(states), StaleAfter(interval)
	out := make(map[string]State, len(regions))
	for _, r := range regions {
		s, ok := states[r]
		out[r] = Counted(s, ok, newest, stale)
	}
	return out
}

// Vote decides the state of a check with regions from each region's
// snapshot (states, by region; a region without one has sent no result
// yet). A region counts as Counted says: UNKNOWN when it has no snapshot
// or its newest tick is more than stale older than newest, the newest
// tick of any region. Then:
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
		s, ok := states[r]
		st := Counted(s, ok, newest, stale)
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
