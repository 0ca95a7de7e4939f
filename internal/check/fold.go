package check

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Tracked is what a store holds of one check when results arrive for it:
// its state, its thresholds, its name for transitions, and whether it
// takes results at all.
type Tracked struct {
	Service    string
	Snapshot   Snapshot
	Thresholds Thresholds
	Paused     bool
	Deleted    bool

	// For a check with regions (Regions not empty): its quorum, its
	// interval (which says when a region is stale, see StaleTicks), and
	// each region's own snapshot. Snapshot is then the voted state.
	Regions      []string
	Quorum       int
	Interval     time.Duration
	RegionStates map[string]Snapshot
}

// InTickOrder returns a copy of results ordered by check id and, within a
// check, by tick, whatever order a batch came in: a check's results are
// applied oldest first, and a store locks the checks' rows in id order so
// that concurrent batches cannot deadlock. Results of one tick keep their
// order.
func InTickOrder(results []Result) []Result {
	rs := slices.Clone(results)
	slices.SortStableFunc(rs, func(a, b Result) int {
		if c := strings.Compare(a.CheckID, b.CheckID); c != 0 {
			return c
		}
		return a.ScheduledAt.Compare(b.ScheduledAt)
	})
	return rs
}

// IDsOf returns the distinct check ids of results in InTickOrder.
func IDsOf(results []Result) []string {
	ids := make([]string, 0, len(results))
	for _, r := range results {
		if len(ids) == 0 || ids[len(ids)-1] != r.CheckID {
			ids = append(ids, r.CheckID)
		}
	}
	return ids
}

// Admit keeps the results of checks that take results and counts the rest:
// those of checks that are paused (a job queued before the pause may still
// finish), deleted, or not tracked at all.
func Admit(results []Result, checks map[string]Tracked) (keep []Result, dropped int) {
	for _, r := range results {
		c, ok := checks[r.CheckID]
		if !ok || c.Paused || c.Deleted {
			dropped++
			continue
		}
		keep = append(keep, r)
	}
	return keep, dropped
}

// Folded is what a batch of results does to the checks it belongs to.
type Folded struct {
	// States holds the new snapshot of every check whose snapshot changed.
	States map[string]Snapshot
	// Transitions are the changes of state, in the order of the results
	// that caused them; their ids are for the store to assign.
	Transitions []Transition
	// Repeated are the results that were recorded before (a redelivered
	// job). They move nothing; the transition their first recording
	// caused, if any, is the one to hand back.
	Repeated []Result
	// RegionStates holds, by check, the new snapshot of every region
	// whose snapshot changed (checks with regions only).
	RegionStates map[string]map[string]Snapshot
}

// Fold applies results, in InTickOrder and admitted, to the checks they
// belong to. fresh says whether a result was recorded just now rather than
// before: only fresh results move state, so a redelivered job neither
// counts twice nor logs a second transition. A transition's ScheduledAt is
// its result's, which is how a redelivery finds it again.
func Fold(results []Result, checks map[string]Tracked, fresh func(Result) bool) Folded {
	out := Folded{States: map[string]Snapshot{}}
	for _, r := range results {
		if !fresh(r) {
			out.Repeated = append(out.Repeated, r)
			continue
		}
		c := checks[r.CheckID]
		prev, ok := out.States[r.CheckID]
		if !ok {
			prev = c.Snapshot
		}
		if len(c.Regions) > 0 {
			out.foldRegion(r, &c, prev)
			continue
		}
		next, moved := Apply(prev, r, c.Thresholds)
		if next == prev {
			continue
		}
		out.States[r.CheckID] = next
		if moved {
			out.Transitions = append(out.Transitions, Transition{
				CheckID: r.CheckID, Service: c.Service, From: prev.State, To: next.State,
				At: r.CheckedAt, Latency: r.Latency, Error: r.Error, ScheduledAt: r.ScheduledAt, Region: r.Region,
			})
		}
	}
	return out
}

// foldRegion applies r to its region's snapshot of c (whose voted snapshot
// so far is prev) and votes again. Each region is Apply's state machine
// with the check's thresholds, so out-of-order and late results are
// handled per region as they are per check without regions. The check's
// snapshot takes the vote as its state and r as its latest result; its
// counters are r's region's. A result of a region c no longer lists is
// stored but moves nothing.
func (out *Folded) foldRegion(r Result, c *Tracked, prev Snapshot) {
	region := r.ResultRegion()
	if !slices.Contains(c.Regions, region) {
		return
	}
	states := out.RegionStates[r.CheckID]
	if states == nil {
		states = maps.Clone(c.RegionStates)
		if states == nil {
			states = map[string]Snapshot{}
		}
	}
	before := states[region]
	after, _ := Apply(before, r, c.Thresholds)
	if after == before {
		return
	}
	states[region] = after
	if out.RegionStates == nil {
		out.RegionStates = map[string]map[string]Snapshot{}
	}
	out.RegionStates[r.CheckID] = states

	vote, seen := Vote(c.Regions, c.Quorum, states, NewestTick(states), StaleAfter(c.Interval))
	next := prev
	if next.State == "" {
		next.State = StateUnknown
	}
	next.State = vote
	next.LastScheduledAt = latest(prev.LastScheduledAt, r.ScheduledAt)
	next.LastCheckedAt, next.LastLatency, next.LastError = r.CheckedAt, r.Latency, r.Error
	next.ConsecutiveSuccesses, next.ConsecutiveFailures = after.ConsecutiveSuccesses, after.ConsecutiveFailures
	from := prev.State
	if from == "" {
		from = StateUnknown
	}
	if vote != from {
		next.LastChangeAt = r.CheckedAt
		out.Transitions = append(out.Transitions, Transition{
			CheckID: r.CheckID, Service: c.Service, From: from, To: vote,
			At: r.CheckedAt, Latency: r.Latency, Error: r.Error, ScheduledAt: r.ScheduledAt, Region: r.Region,
			Regions: seen,
		})
	}
	out.States[r.CheckID] = next
}
