//go:build faults

package faults

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/queue"
)

// recoveredRatio is "probes flowing at full rate again": a second in which
// at least this share of the ticks due in it were probed.
const recoveredRatio = 0.95

// recoverySustain is how many seconds in a row must reach recoveredRatio.
const recoverySustain = 3

// ticks is what the results table says about the ticks due in a window.
type ticks struct {
	expected int64 // grid points of every check in [from, to)
	recorded int64 // results of those ticks
	missing  int64 // due ticks without a result that should have one
	// skipped counts due ticks without a result that the scheduler was
	// entitled to skip: by the time it dispatched that check again the tick
	// was more than the catch-up window old (check.NextTick). Only an
	// outage longer than the window skips ticks.
	skipped int64
	offGrid int64 // results (any time) whose tick is not on the check's grid
	// duplicated counts probes beyond one per recorded tick, seen at the
	// target over the whole run: a tick probed twice (a redelivered job,
	// a batch published twice). The results table's primary key makes a
	// second *result* for a tick impossible, so this is where doubling shows.
	duplicated int64
	// unprobed counts results without a request at the target (a probe
	// that failed before it reached the target); it should be 0 and would
	// hide duplicates of the same check.
	unprobed int64
	maxLag   time.Duration // longest checked_at - scheduled_at in the window
	// doubled describes a few of the checks probed more than once: which
	// probes had no result of their own.
	doubled []string
	// due and done are per-second buckets from the window start: ticks due
	// (by scheduled_at) and results recorded (by checked_at).
	due, done []int64
}

// gridCheck is one check's place on the schedule grid.
type gridCheck struct {
	id       string
	anchor   time.Time // any grid point (the stored schedule.next_run_at)
	interval time.Duration
}

// ticksIn calls fn for every grid point of c in [from, to).
func (c gridCheck) ticksIn(from, to time.Time, fn func(time.Time)) {
	k := from.Sub(c.anchor) / c.interval
	t := c.anchor.Add(k * c.interval) //nolint:durationcheck // k is a count of intervals (a quotient of durations)
	for t.Before(from) {
		t = t.Add(c.interval)
	}
	for ; t.Before(to); t = t.Add(c.interval) {
		fn(t)
	}
}

func (r *rig) grid(ctx context.Context) ([]gridCheck, error) {
	rows, err := r.pool.Query(ctx, `SELECT s.id, sc.next_run_at, s.interval_ms FROM services s JOIN schedule sc ON sc.check_id = s.id`)
	if err != nil {
		return nil, fmt.Errorf("read grid: %w", err)
	}
	defer rows.Close()
	var out []gridCheck
	for rows.Next() {
		var (
			c  gridCheck
			ms int64
		)
		if err := rows.Scan(&c.id, &c.anchor, &ms); err != nil {
			return nil, err
		}
		c.interval = time.Duration(ms) * time.Millisecond
		out = append(out, c)
	}
	return out, rows.Err()
}

// counted is the regions whose ticks are expected: the checks' regions
// but those whose workers the scenario killed (dead), or the default
// region for checks without regions. A check with regions gets one result
// per region and tick.
func (r *rig) counted() []string {
	if len(r.regions) == 0 {
		return []string{check.DefaultRegion}
	}
	var out []string
	for _, g := range r.regions {
		if _, gone := r.dead[g]; !gone {
			out = append(out, g)
		}
	}
	return out
}

// windowCounts returns the ticks due in [from, to) in the counted regions
// and how many of them have a result; the suite polls it until the late
// ticks are in.
func (r *rig) windowCounts(ctx context.Context, from, to time.Time) (expected, recorded int64, err error) {
	grid, err := r.grid(ctx)
	if err != nil {
		return 0, 0, err
	}
	regions := r.counted()
	for _, c := range grid {
		c.ticksIn(from, to, func(time.Time) { expected += int64(len(regions)) })
	}
	err = r.pool.QueryRow(ctx, `SELECT count(*) FROM check_results WHERE scheduled_at >= $1 AND scheduled_at < $2
		AND region = ANY($3)`, from, to, regions).Scan(&recorded)
	return expected, recorded, err
}

// measure reads the results table and the target's counters. Call it once
// every process has stopped, so the counts are final.
func (r *rig) measure(ctx context.Context, from, to time.Time) (ticks, error) {
	var m ticks
	grid, err := r.grid(ctx)
	if err != nil {
		return m, err
	}
	// Whole seconds only: a last partial second would look short, its
	// late probes being recorded after the window closed.
	buckets := int(to.Sub(from) / time.Second)
	m.due, m.done = make([]int64, buckets), make([]int64, buckets)
	// Every result of the counted regions from the window on, by check
	// and region: which ticks have one, and when each check was probed
	// again (in that region) after a gap.
	regions := r.counted()
	type res struct{ tick, checked time.Time }
	byCheck := map[string][]res{} // by check id + "/" + region
	rrows, err := r.pool.Query(ctx, `SELECT check_id, region, scheduled_at, checked_at FROM check_results
		WHERE scheduled_at >= $1 AND region = ANY($2) ORDER BY check_id, region, scheduled_at`, from, regions)
	if err != nil {
		return m, fmt.Errorf("read results: %w", err)
	}
	for rrows.Next() {
		var (
			id, region string
			x          res
		)
		if err := rrows.Scan(&id, &region, &x.tick, &x.checked); err != nil {
			rrows.Close()
			return m, err
		}
		byCheck[id+"/"+region] = append(byCheck[id+"/"+region], x)
	}
	rrows.Close()
	if err := rrows.Err(); err != nil {
		return m, err
	}
	catchUp := r.s.load.catchUp
	for _, c := range grid {
		for _, region := range regions {
			rs := byCheck[c.id+"/"+region]
			c.ticksIn(from, to, func(t time.Time) {
				m.expected++
				if b := int(t.Sub(from) / time.Second); b < buckets {
					m.due[b]++
				}
				i := sort.Search(len(rs), func(i int) bool { return !rs[i].tick.Before(t) })
				if i < len(rs) && rs[i].tick.Equal(t) {
					return
				}
				// No result. The scheduler may skip a tick only when it got
				// to the check more than catchUp after the tick; it got
				// there before the check's next probe began.
				if i < len(rs) && t.Before(rs[i].checked.Add(-catchUp)) {
					m.skipped++
					return
				}
				m.missing++
			})
		}
	}
	rows, err := r.pool.Query(ctx, `SELECT s.id,
			count(r.check_id) FILTER (WHERE r.scheduled_at >= $1 AND r.scheduled_at < $2 AND r.region = ANY($3)),
			count(r.check_id),
			count(r.check_id) FILTER (WHERE mod((extract(epoch FROM r.scheduled_at - sc.next_run_at) * 1000)::numeric, s.interval_ms) <> 0)
		FROM services s LEFT JOIN schedule sc ON sc.check_id = s.id LEFT JOIN check_results r ON r.check_id = s.id
		GROUP BY s.id`, from, to, regions)
	if err != nil {
		return m, fmt.Errorf("count results: %w", err)
	}
	defer rows.Close()
	var dupIDs []string
	for rows.Next() {
		var (
			id                     string
			inWindow, total, wrong int64
		)
		if err := rows.Scan(&id, &inWindow, &total, &wrong); err != nil {
			return m, err
		}
		m.recorded += inWindow
		m.offGrid += wrong
		n, counted := r.index[id]
		if !counted {
			// A check of a scenario's own targets (hostile-targets): the
			// counting target never sees its probes.
			continue
		}
		hits := r.target.hitsOf(n)
		m.duplicated += max(hits-total, 0)
		m.unprobed += max(total-hits, 0)
		if hits > total && len(dupIDs) < 3 {
			dupIDs = append(dupIDs, id)
		}
	}
	if err := rows.Err(); err != nil {
		return m, err
	}
	for _, id := range dupIDs {
		d, err := r.explainDuplicate(ctx, id)
		if err != nil {
			return m, err
		}
		m.doubled = append(m.doubled, d)
	}
	var lagMs float64
	if err := r.pool.QueryRow(ctx, `SELECT coalesce(max(extract(epoch FROM checked_at - scheduled_at) * 1000), 0)
		FROM check_results WHERE scheduled_at >= $1 AND scheduled_at < $2 AND region = ANY($3)`, from, to, regions).Scan(&lagMs); err != nil {
		return m, fmt.Errorf("lag: %w", err)
	}
	m.maxLag = time.Duration(lagMs * float64(time.Millisecond))
	brows, err := r.pool.Query(ctx, `SELECT floor(extract(epoch FROM checked_at - $1::timestamptz))::int, count(*)
		FROM check_results WHERE checked_at >= $1 AND checked_at < $2 AND region = ANY($3) GROUP BY 1`, from, to, regions)
	if err != nil {
		return m, fmt.Errorf("bucket results: %w", err)
	}
	defer brows.Close()
	for brows.Next() {
		var b int
		var n int64
		if err := brows.Scan(&b, &n); err != nil {
			return m, err
		}
		if b >= 0 && b < buckets {
			m.done[b] = n
		}
	}
	return m, brows.Err()
}

// explainDuplicate pairs each result of a check with the first probe the
// target saw after it started (a result's checked_at is when its probe
// began); the probes left over are the doubled ones, shown with the tick
// they most likely belonged to and that tick's recorded probe.
func (r *rig) explainDuplicate(ctx context.Context, id string) (string, error) {
	hits := r.target.timesOf(r.index[id])
	rows, err := r.pool.Query(ctx, `SELECT scheduled_at, checked_at FROM check_results WHERE check_id = $1 ORDER BY checked_at`, id)
	if err != nil {
		return "", fmt.Errorf("results of %s: %w", id, err)
	}
	defer rows.Close()
	type res struct{ tick, checked time.Time }
	var results []res
	for rows.Next() {
		var x res
		if err := rows.Scan(&x.tick, &x.checked); err != nil {
			return "", err
		}
		results = append(results, x)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	used := make([]bool, len(hits))
	for _, x := range results {
		for i, h := range hits {
			// checked_at is stored to the microsecond.
			if !used[i] && !h.Before(x.checked.Add(-time.Microsecond)) {
				used[i] = true
				break
			}
		}
	}
	const ts = "15:04:05.000"
	var extra []string
	for i, h := range hits {
		if used[i] {
			continue
		}
		var tick res
		for _, x := range results {
			if !x.tick.After(h) && x.tick.After(tick.tick) {
				tick = x
			}
		}
		extra = append(extra, fmt.Sprintf("tick %s probed at %s (recorded) and again at %s",
			tick.tick.UTC().Format(ts), tick.checked.UTC().Format(ts), h.UTC().Format(ts)))
	}
	if len(extra) > 5 { // enough to see the pattern; a report is read by people
		extra = append(extra[:5], fmt.Sprintf("%d more", len(extra)-5))
	}
	return fmt.Sprintf("check %s: %d probes, %d results; %s", id, len(hits), len(results), strings.Join(extra, ", ")), nil
}

// recovery is how long after the fault at offset faultAt (from the window
// start) results flowed at the due rate again: the start of the first
// second, from the one the fault fell in, that begins a run of
// recoverySustain seconds each of which recorded at least 95% of the ticks
// due in it. Asking for a run rather than one good second keeps a single
// catch-up burst during a still-unsteady recovery from counting; starting
// from the fault rather than looking for the last short second keeps a
// later, unrelated stall of a busy machine (single seconds swing by 10-20%
// there when other work takes the CPU) from being charged to the fault.
// ok is false when no such run starts within the window.
func (m ticks) recovery(faultAt time.Duration) (d time.Duration, ok bool) {
	good := func(b int) bool {
		return m.due[b] == 0 || float64(m.done[b]) >= recoveredRatio*float64(m.due[b])
	}
next:
	for b := int(faultAt / time.Second); b+recoverySustain <= len(m.due); b++ {
		for i := b; i < b+recoverySustain; i++ {
			if !good(i) {
				continue next
			}
		}
		return max(time.Duration(b)*time.Second-faultAt, 0), true
	}
	return 0, false
}

// rates renders the per-second done/due ratios around the fault, for the
// log.
func (m ticks) rates(faultAt time.Duration) string {
	var b strings.Builder
	for i := range m.due {
		if i == int(faultAt/time.Second) {
			b.WriteString("| ")
		}
		if m.due[i] == 0 {
			b.WriteString("- ")
			continue
		}
		b.WriteString(strconv.Itoa(int(math.Round(100*float64(m.done[i])/float64(m.due[i])))) + " ")
	}
	return strings.TrimSpace(b.String())
}

// consistency counts checks whose stored state disagrees with their
// results: the state's last applied tick is not the newest result, its
// last check time is not that result's, its state is not what that result
// implies (thresholds are 1), or the last logged transition does not end in
// the current state. Any of these means something was half-written.
func (r *rig) consistency(ctx context.Context) (map[string]int64, error) {
	queries := map[string]string{
		"last_scheduled_at is not the newest result": `SELECT count(*) FROM check_state cs
			LEFT JOIN (SELECT check_id, max(scheduled_at) AS m FROM check_results GROUP BY check_id) r ON r.check_id = cs.check_id
			WHERE cs.last_scheduled_at IS DISTINCT FROM r.m`,
		"last_checked_at is not that result's": `SELECT count(*) FROM check_state cs
			JOIN check_results r ON r.check_id = cs.check_id AND r.scheduled_at = cs.last_scheduled_at
			WHERE cs.last_checked_at IS DISTINCT FROM r.checked_at`,
		"state is not the newest result's": `SELECT count(*) FROM check_state cs
			JOIN check_results r ON r.check_id = cs.check_id AND r.scheduled_at = cs.last_scheduled_at
			WHERE cs.state <> CASE WHEN r.success THEN 'UP' ELSE 'DOWN' END`,
		"last transition does not end in the state": `SELECT count(*) FROM check_state cs
			JOIN LATERAL (SELECT to_state FROM transitions t WHERE t.check_id = cs.check_id ORDER BY t.id DESC LIMIT 1) lt ON true
			WHERE lt.to_state <> cs.state`,
		"checks without a state row": `SELECT count(*) FROM services s
			WHERE NOT EXISTS (SELECT 1 FROM check_state cs WHERE cs.check_id = s.id)`,
	}
	if len(r.regions) > 0 {
		// A check with regions has a result per region and tick, and its
		// state is the regions' vote: each region's own state is what
		// must agree with that region's newest result.
		delete(queries, "last_checked_at is not that result's")
		delete(queries, "state is not the newest result's")
		queries["a region's last_scheduled_at is not its newest result"] = `SELECT count(*) FROM check_region_state cs
			LEFT JOIN (SELECT check_id, region, max(scheduled_at) AS m FROM check_results GROUP BY check_id, region) r
				ON r.check_id = cs.check_id AND r.region = cs.region
			WHERE cs.last_scheduled_at IS DISTINCT FROM r.m`
		queries["a region's last_checked_at is not that result's"] = `SELECT count(*) FROM check_region_state cs
			JOIN check_results r ON r.check_id = cs.check_id AND r.region = cs.region AND r.scheduled_at = cs.last_scheduled_at
			WHERE cs.last_checked_at IS DISTINCT FROM r.checked_at`
		queries["a region's state is not its newest result's"] = `SELECT count(*) FROM check_region_state cs
			JOIN check_results r ON r.check_id = cs.check_id AND r.region = cs.region AND r.scheduled_at = cs.last_scheduled_at
			WHERE cs.state <> CASE WHEN r.success THEN 'UP' ELSE 'DOWN' END`
	}
	out := map[string]int64{}
	for name, q := range queries {
		var n int64
		if err := r.pool.QueryRow(ctx, q).Scan(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if n > 0 {
			out[name] = n
		}
	}
	if len(r.regions) > 0 {
		n, err := r.misvoted(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out["state is not the regions' vote"] = n
		}
	}
	return out, nil
}

// misvoted counts the checks with regions whose stored state is not
// check.Vote of their stored region states: recording votes whenever a
// region's state moves, and the vote depends on those states alone.
func (r *rig) misvoted(ctx context.Context) (int64, error) {
	rows, err := r.pool.Query(ctx, `SELECT s.id, s.regions, s.quorum, s.interval_ms, cs.state, rs.region, rs.state, rs.last_scheduled_at
		FROM services s JOIN check_state cs ON cs.check_id = s.id
		JOIN check_region_state rs ON rs.check_id = s.id
		WHERE cardinality(s.regions) > 0 ORDER BY s.id`)
	if err != nil {
		return 0, fmt.Errorf("read region states: %w", err)
	}
	defer rows.Close()
	type voted struct {
		regions  []string
		quorum   int
		interval time.Duration
		state    check.State
		states   map[string]check.Snapshot
	}
	checks := map[string]*voted{}
	for rows.Next() {
		var (
			id, state, region, regionState string
			regions                        []string
			quorum                         int
			ms                             int64
			last                           *time.Time
		)
		if err := rows.Scan(&id, &regions, &quorum, &ms, &state, &region, &regionState, &last); err != nil {
			return 0, err
		}
		v := checks[id]
		if v == nil {
			v = &voted{regions: regions, quorum: quorum, interval: time.Duration(ms) * time.Millisecond,
				state: check.State(state), states: map[string]check.Snapshot{}}
			checks[id] = v
		}
		snap := check.Snapshot{State: check.State(regionState)}
		if last != nil {
			snap.LastScheduledAt = *last
		}
		v.states[region] = snap
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var n int64
	for _, v := range checks {
		if vote, _ := check.Vote(v.regions, v.quorum, v.states, check.NewestTick(v.states), check.StaleAfter(v.interval)); vote != v.state {
			n++
		}
	}
	return n, nil
}

// queueState is a jobs queue, once every process has stopped (or, for a
// region without workers, at any time).
type queueState struct {
	// ready and unacked count messages, each of which may carry many jobs;
	// jobs counts the jobs of the ready ones.
	ready, unacked, consumers, jobs int
	// surplus counts ready jobs whose tick already has a result: a job
	// that was probed and recorded but went back to the queue (not acked),
	// so it would be probed twice.
	surplus int
	// redispatch counts ready jobs whose check's schedule was not advanced
	// past their tick: the scheduler would publish the tick again.
	redispatch int
	// examples describes a few of the offending jobs, for the failure message.
	examples []string
}

// inspectQueue inspects the default region's jobs queue.
func (r *rig) inspectQueue(ctx context.Context) (queueState, error) {
	return r.inspectRegionQueue(ctx, check.DefaultRegion)
}

// inspectRegionQueue inspects region's jobs queue (queue.Config.JobQueueFor):
// its jobs are checked against that region's results.
func (r *rig) inspectRegionQueue(ctx context.Context, region string) (queueState, error) {
	var q queueState
	name := queue.Config{JobQueue: queue.DefaultJobQueue}.JobQueueFor(region)
	out, err := r.s.mq.ctl(ctx, "list_queues", "-p", r.vhost, "--no-table-headers",
		"name", "messages_ready", "messages_unacknowledged", "consumers")
	if err != nil {
		return q, err
	}
	found := false
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == name {
			found = true
			q.ready, _ = strconv.Atoi(f[1])
			q.unacked, _ = strconv.Atoi(f[2])
			q.consumers, _ = strconv.Atoi(f[3])
		}
	}
	if !found {
		return q, fmt.Errorf("no %s queue in vhost %s: %s", name, r.vhost, out)
	}
	if q.ready == 0 {
		return q, nil
	}
	jobs, _, err := r.peekJobs(name)
	if err != nil {
		return q, err
	}
	q.jobs = len(jobs)
	// One query for all of them: a dead region's queue holds an interval
	// of jobs, too many to look up one by one on a busy machine.
	ids, ticks, regions := make([]string, len(jobs)), make([]time.Time, len(jobs)), make([]string, len(jobs))
	for i := range jobs {
		ids[i], ticks[i], regions[i] = jobs[i].CheckID, jobs[i].ScheduledAt, jobs[i].ResultRegion()
	}
	rows, err := r.pool.Query(ctx, `SELECT j.id, j.tick,
			EXISTS (SELECT 1 FROM check_results r WHERE r.check_id = j.id AND r.scheduled_at = j.tick AND r.region = j.region),
			coalesce(sc.next_run_at > j.tick, false), sc.next_run_at
		FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS j(id, tick, region)
		LEFT JOIN schedule sc ON sc.check_id = j.id`, ids, ticks, regions)
	if err != nil {
		return q, fmt.Errorf("look up jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id                  string
			tick                time.Time
			hasResult, advanced bool
			next                *time.Time
		)
		if err := rows.Scan(&id, &tick, &hasResult, &advanced, &next); err != nil {
			return q, fmt.Errorf("look up jobs: %w", err)
		}
		if hasResult {
			q.surplus++
		}
		if !advanced {
			q.redispatch++
		}
		if (hasResult || !advanced) && len(q.examples) < 5 {
			q.examples = append(q.examples, fmt.Sprintf("job %s tick %s: result stored %v, next_run_at %v",
				id, tick.Format(time.RFC3339Nano), hasResult, next))
		}
	}
	if err := rows.Err(); err != nil {
		return q, fmt.Errorf("look up jobs: %w", err)
	}
	return q, nil
}

// peekJobs returns the ready jobs of the named queue without consuming
// them (it gets them unacked and closes the channel, which puts them all
// back) and the queue's consumers (a passive declare). It asks the broker
// over AMQP, much faster than rabbitmqctl, so that a queue can be sampled
// while the load runs.
func (r *rig) peekJobs(name string) (jobs []check.Job, consumers int, err error) {
	conn, err := amqp.Dial(r.s.mq.url(r.vhost))
	if err != nil {
		return nil, 0, fmt.Errorf("dial broker: %w", err)
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = ch.Close() }()
	dq, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("inspect queue %s: %w", name, err)
	}
	for {
		d, ok, err := ch.Get(name, false)
		if err != nil {
			return nil, 0, fmt.Errorf("get job: %w", err)
		}
		if !ok {
			break
		}
		js, err := queue.DecodeJobs(d.Body)
		if err != nil {
			return nil, 0, err
		}
		jobs = append(jobs, js...)
	}
	return jobs, dq.Consumers, nil
}
