//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/queue"
)

// The region-kill scenario (issue 18): every check is probed from
// regionNames with quorum 2, and every worker of deadRegion is killed.
var regionNames = []string{"eu", "us", "ap"}

const (
	deadRegion = "ap"
	// regionSample is how many checks' region_states are read over REST.
	regionSample = 20
	// deadQueueSamples is how often, a second apart, the dead region's
	// queue is measured at the window's end.
	deadQueueSamples = 3
)

// regionKillInject kills every worker of deadRegion and starts none: its
// ticks from then on are not expected (rig.counted leaves the region out).
func regionKillInject(_ *testing.T, r *rig, x *runState) string {
	var n int
	for _, p := range x.workers {
		if p.region == deadRegion {
			p.kill9()
			n++
		}
	}
	r.dead[deadRegion] = time.Now()
	return fmt.Sprintf("%d worker(s) of %s killed, none restarted", n, deadRegion)
}

// regionKillAfter checks what the dead region left behind, with the
// processes still running: the dead region sent nothing after the kill
// and had been probing before it, no check went DOWN, the dead region
// reads UNKNOWN, and its queue holds no more than about one interval of
// jobs, since they expire unconsumed.
func regionKillAfter(t *testing.T, r *rig, x *runState) {
	ctx := context.Background()
	l := r.s.load
	killedAt := r.dead[deadRegion]

	var after, before int64
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE checked_at >= $2),
			count(*) FILTER (WHERE scheduled_at >= $3 AND scheduled_at < $4)
		FROM check_results WHERE region = $1`, deadRegion, killedAt, x.from, x.faultAt).Scan(&after, &before))
	grid, err := r.grid(ctx)
	require.NoError(t, err)
	var due int64
	for _, c := range grid {
		c.ticksIn(x.from, x.faultAt, func(time.Time) { due++ })
	}
	if after > 0 {
		x.failf("%d results of %s were probed after its workers were killed", after, deadRegion)
	}
	// Jobs in flight when the workers died are never recorded; the rest
	// of the region's ticks before the kill must be.
	if before < due/2 {
		x.failf("%s recorded only %d of its %d ticks due in the window before the kill: it was not probing", deadRegion, before, due)
	}
	x.notes = append(x.notes, fmt.Sprintf("%s recorded %d of its %d ticks due in the window before the kill, none after",
		deadRegion, before, due))

	// No check went DOWN: the targets are healthy, and a dead region is
	// UNKNOWN, never DOWN.
	var downs, notUp int64
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM transitions WHERE to_state = $1 AND at >= $2`,
		string(check.StateDown), x.from).Scan(&downs))
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM check_state WHERE state <> $1`,
		string(check.StateUp)).Scan(&notUp))
	if downs > 0 {
		x.failf("%d transitions to DOWN from the window's start on; the targets are healthy", downs)
	}
	if notUp > 0 {
		x.failf("%d checks are not UP at the end; the targets are healthy", notUp)
	}

	unknown, sampled := regionStates(t, r, x)
	// Every check, by the store: the dead region's newest tick trails the
	// newest of any region by more than check.StaleAfter (so it counts as
	// UNKNOWN), the rule check.Counted applies.
	var counting int64
	require.NoError(t, r.pool.QueryRow(ctx, `SELECT count(*) FROM check_region_state a
		JOIN (SELECT check_id, max(last_scheduled_at) AS at FROM check_region_state GROUP BY check_id) n USING (check_id)
		WHERE a.region = $1 AND a.last_scheduled_at >= n.at - $2::bigint * interval '1 millisecond'`,
		deadRegion, check.StaleAfter(l.interval).Milliseconds()).Scan(&counting))
	if counting > 0 {
		x.failf("%s still counts in the vote of %d checks at the end (not stale)", deadRegion, counting)
	}

	// The dead region's queue: jobs keep being published to it, and
	// expire after one interval instead of piling up. A tick's jobs may
	// meet the next tick's for a moment (published one interval apart,
	// expiring one interval after publishing), so the bound is one
	// interval of jobs and one more scheduler batch (500) for the overlap.
	var maxJobs int
	name := queue.Config{JobQueue: queue.DefaultJobQueue}.JobQueueFor(deadRegion)
	for i := range deadQueueSamples {
		if i > 0 {
			time.Sleep(time.Second)
		}
		jobs, consumers, err := r.peekJobs(name)
		require.NoError(t, err)
		maxJobs = max(maxJobs, len(jobs))
		if consumers > 0 {
			x.failf("%s's queue has %d consumers after its workers were killed", deadRegion, consumers)
		}
	}
	bound := l.checks + 500
	if maxJobs == 0 {
		x.failf("%s's queue was empty: the scheduler stopped publishing its jobs", deadRegion)
	}
	if maxJobs > bound {
		x.failf("%s's queue held %d jobs; jobs nobody takes expire after one interval (%d jobs, at most %d allowed)",
			deadRegion, maxJobs, l.checks, bound)
	}
	x.notes = append(x.notes, fmt.Sprintf("%s UNKNOWN in %d of %d sampled checks over REST and stale in %d of %d by the store; "+
		"%d transitions to DOWN, %d checks not UP; %s's queue held at most %d jobs (one interval is %d)",
		deadRegion, unknown, sampled, int64(len(grid))-counting, len(grid), downs, notUp, deadRegion, maxJobs, l.checks))
}

// regionStates reads GET /api/v1/services/{id} of a sample of the checks
// and requires the dead region UNKNOWN and the others UP in their
// region_states, and the check UP. The window ends more than
// check.StaleTicks intervals after the kill, so the dead region is stale
// by then; a loaded machine gets a few more seconds.
func regionStates(t *testing.T, r *rig, x *runState) (unknown, sampled int) {
	ids := make([]string, 0, len(r.index))
	for id := range r.index {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return r.index[ids[i]] < r.index[ids[j]] })
	step := max(len(ids)/regionSample, 1)
	type service struct {
		Status       string                 `json:"status"`
		RegionStates map[string]check.State `json:"region_states"`
	}
	read := func(id string) service {
		resp, err := http.Get("http://" + x.servers[0].addr + "/api/v1/services/" + id)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET service %s", id)
		var sv service
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&sv))
		return sv
	}
	var bad []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Second) {
		unknown, sampled, bad = 0, 0, bad[:0]
		for i := 0; i < len(ids); i += step {
			sv := read(ids[i])
			sampled++
			ok := sv.Status == string(check.StateUp) && len(sv.RegionStates) == len(r.regions)
			for _, g := range r.regions {
				want := check.StateUp
				if g == deadRegion {
					want = check.StateUnknown
				}
				ok = ok && sv.RegionStates[g] == want
			}
			if sv.RegionStates[deadRegion] == check.StateUnknown {
				unknown++
			}
			if !ok {
				bad = append(bad, fmt.Sprintf("%s: %s %v", ids[i], sv.Status, sv.RegionStates))
			}
		}
		if len(bad) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(bad) > 0 {
		x.failf("%d of %d sampled checks do not read UP with %s UNKNOWN and %v UP: %v", len(bad), sampled, deadRegion,
			slices.DeleteFunc(slices.Clone(r.regions), func(g string) bool { return g == deadRegion }), bad)
	}
	return unknown, sampled
}
