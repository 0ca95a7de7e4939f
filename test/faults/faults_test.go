//go:build faults

package faults

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
)

// Every scenario runs the same timeline: processes up, warmup, the window
// opens, preFault of steady load, the fault, scenario.post of observation,
// the window closes; then the suite waits for the window's late ticks,
// stops every process with SIGTERM and counts.
const (
	warmup   = 10 * time.Second
	preFault = 10 * time.Second
)

// scenario is one fault under load.
type scenario struct {
	name    string
	what    string
	servers int
	workers int // per region when regions is set
	// regions and quorum are every check's (none: the default region
	// alone); the scenario then starts that many workers in each region.
	regions []string
	quorum  int
	post    time.Duration
	// before runs with the load steady, just before the window opens.
	before func(t *testing.T, r *rig, x *runState)
	// inject causes the fault (and, for restarts, brings the dependency
	// back) and returns a note for the report.
	inject func(t *testing.T, r *rig, x *runState) string
	// after runs once the window's ticks are in, before the processes stop.
	after func(t *testing.T, r *rig, x *runState)
	// maxDuplicated bounds the ticks probed twice: at-least-once delivery
	// may re-probe what was in flight when the fault hit, never more. See
	// docs/reliability.md for where each bound comes from.
	maxDuplicated func(l load, x *runState) int64
}

// runState is what one scenario's steps share.
type runState struct {
	servers, workers []*proc
	ws               *wsClient
	wsStartID        int64
	faultAt          time.Time
	from, to         time.Time // the window
	// hostile and hostileIDs are the hostile-targets scenario's targets and
	// its checks by kind.
	hostile    *hostileTargets
	hostileIDs map[string][]string
	// notify is the notify-deliveries scenario's receivers and channels.
	notify *notifyRun
	down   time.Duration // how long the dependency was away, for restarts
	// notes are added to the report row.
	notes []string
	// problems are failed assertions; the scenario goes on after one, so a
	// run reports everything it saw, and fails at the end.
	problems []string
}

func (x *runState) failf(format string, args ...any) {
	x.problems = append(x.problems, fmt.Sprintf(format, args...))
}

// row is one line of the report.
type row struct {
	scenario   string
	load       string
	t          ticks
	recovery   time.Duration
	recovered  bool
	note       string
	windowSecs float64
}

func (r row) markdown() string {
	rec := fmt.Sprintf("%.0f s", r.recovery.Seconds())
	if !r.recovered {
		rec = "not within window"
	}
	return fmt.Sprintf("| %s | %s | %d | %d | %d | %d | %d | %s | %.1f s | %s |", r.scenario, r.load,
		r.t.expected, r.t.recorded, r.t.missing, r.t.skipped, r.t.duplicated, rec, r.t.maxLag.Seconds(), r.note)
}

const tableHeader = "| scenario | load | ticks expected | recorded | missing | skipped (> catch-up) | duplicated | recovery | max lag | notes |\n" +
	"|---|---|---|---|---|---|---|---|---|---|"

func TestFaults(t *testing.T) {
	s := newSuite(t)
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) { s.run(t, sc) })
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	b.WriteString(tableHeader + "\n")
	for _, r := range s.rows {
		b.WriteString(r.markdown() + "\n")
	}
	t.Logf("fault suite report (%s):\n%s", s.load, b.String())
	if path := os.Getenv("VIGIL_FAULTS_REPORT"); path != "" {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
}

//nolint:maintidx // a table of scenarios: long by design, one entry per fault
func scenarios() []scenario {
	return []scenario{
		{
			name: "worker-kill", what: "kill -9 one of two workers mid-load, start a new one 5 s later",
			servers: 1, workers: 2, post: 25 * time.Second,
			inject: func(_ *testing.T, r *rig, x *runState) string {
				x.workers[0].kill9()
				time.Sleep(5 * time.Second)
				x.workers = append(x.workers, r.startWorker())
				return "replacement worker ready " + since(x.faultAt)
			},
			// The killed worker's unacknowledged jobs (its prefetch window
			// of twice its concurrency) go back to the queue; those it had
			// already probed are probed again.
			maxDuplicated: func(l load, _ *runState) int64 { return int64(2 * l.concurrency) },
		},
		{
			name: "rabbitmq-restart", what: "stop the broker node gracefully mid-load and start it again",
			servers: 1, workers: 2, post: 45 * time.Second,
			inject: func(t *testing.T, r *rig, x *runState) string {
				stopped := time.Now()
				require.NoError(t, r.s.mq.stop(context.Background()))
				stopTook := time.Since(stopped)
				up := make(chan time.Time, 1)
				go func() {
					for !r.s.mq.up() {
						time.Sleep(100 * time.Millisecond)
					}
					up <- time.Now()
				}()
				require.NoError(t, r.s.mq.start(context.Background()))
				x.down = (<-up).Sub(x.faultAt)
				return fmt.Sprintf("broker unavailable %.1f s (stop %.1f s)", x.down.Seconds(), stopTook.Seconds())
			},
			// Every worker's unacknowledged jobs are redelivered, and a
			// batch the scheduler published whose confirms were lost with
			// the connection is published again.
			maxDuplicated: func(l load, x *runState) int64 {
				return int64(len(x.workers)*2*l.concurrency + len(x.servers)*500)
			},
		},
		{
			name: "rabbitmq-close-connections", what: "the broker closes every client connection mid-load",
			servers: 1, workers: 2, post: 25 * time.Second,
			inject: func(t *testing.T, r *rig, _ *runState) string {
				out, err := r.s.mq.ctl(context.Background(), "close_all_connections", "-p", r.vhost, "fault injection")
				require.NoError(t, err, out)
				return "every connection closed by the broker"
			},
			maxDuplicated: func(l load, x *runState) int64 {
				return int64(len(x.workers)*2*l.concurrency + len(x.servers)*500)
			},
		},
		{
			name: "postgres-crash", what: "PostgreSQL immediate shutdown (crash) mid-load, down 5 s, started again (WAL recovery)",
			servers: 1, workers: 2, post: 30 * time.Second,
			inject: func(t *testing.T, r *rig, x *runState) string {
				ctx := context.Background()
				require.NoError(t, r.s.pg.crash(ctx))
				time.Sleep(5 * time.Second)
				require.NoError(t, r.s.pg.start(ctx))
				x.down = time.Since(x.faultAt)
				return fmt.Sprintf("database unavailable %.1f s", x.down.Seconds())
			},
			// Workers probe, fail to record, and return the job after a
			// delay (queue.DefaultRequeueDelay, 1 s) while the database is
			// away: each concurrency slot re-probes at most once per second
			// of outage, plus the jobs in flight when it came back.
			maxDuplicated: func(l load, x *runState) int64 {
				secs := int64(x.down/time.Second) + 2
				return int64(len(x.workers)*l.concurrency)*secs + int64(len(x.workers)*2*l.concurrency)
			},
		},
		{
			name: "postgres-terminate-backends", what: "pg_terminate_backend on every connection of Vigil's database mid-load",
			servers: 1, workers: 2, post: 25 * time.Second,
			inject: func(t *testing.T, r *rig, _ *runState) string {
				var n int
				ctx := context.Background()
				c, err := r.s.pg.conn(ctx, "postgres")
				require.NoError(t, err)
				defer func() { _ = c.Close(ctx) }()
				require.NoError(t, c.QueryRow(ctx, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
					WHERE datname = $1 AND pid <> pg_backend_pid()) k`, r.db).Scan(&n))
				return fmt.Sprintf("%d backends terminated", n)
			},
			maxDuplicated: func(l load, x *runState) int64 {
				return int64(len(x.workers) * 2 * l.concurrency)
			},
		},
		{
			name: "server-kill", what: "kill -9 one of two servers (both schedule) mid-load; a WebSocket client on the other keeps receiving",
			servers: 2, workers: 2, post: 25 * time.Second,
			before: func(t *testing.T, r *rig, x *runState) {
				ws, err := dialWS(context.Background(), x.servers[1].addr)
				require.NoError(t, err)
				t.Cleanup(ws.close)
				x.ws = ws
				// Transitions committed before the client was subscribed
				// are not its to miss.
				time.Sleep(2 * time.Second)
				require.NoError(t, r.pool.QueryRow(context.Background(),
					`SELECT coalesce(max(id), 0) FROM transitions`).Scan(&x.wsStartID))
			},
			inject: func(_ *testing.T, _ *rig, x *runState) string {
				x.servers[0].kill9()
				return "server-0 killed; scheduling left to server-1"
			},
			after: func(t *testing.T, r *rig, x *runState) {
				if err := x.ws.readErr(); err != nil {
					x.failf("the WebSocket on the surviving server was closed: %v", err)
				}
				if x.ws.receivedAfter(x.faultAt.Add(5*time.Second)) == 0 {
					x.failf("no transition reached the WebSocket client from 5 s after the kill on")
				}
				// Every transition logged since the client connected must
				// reach it (publishing is after commit, so allow a moment).
				var ids, missing []int64
				for deadline := time.Now().Add(20 * time.Second); ; {
					ids = ids[:0]
					rows, err := r.pool.Query(context.Background(), `SELECT id FROM transitions WHERE id > $1 ORDER BY id`, x.wsStartID)
					require.NoError(t, err)
					for rows.Next() {
						var id int64
						require.NoError(t, rows.Scan(&id))
						ids = append(ids, id)
					}
					require.NoError(t, rows.Err())
					if missing = x.ws.missing(ids); len(missing) == 0 || time.Now().After(deadline) {
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
				if len(missing) > 0 {
					x.failf("%d of %d transitions never reached the WebSocket client on server-1: ids %v", len(missing), len(ids), missing)
				}
				x.notes = append(x.notes, fmt.Sprintf("WebSocket client on server-1 received %d of %d transitions, %d after the kill",
					len(ids)-len(missing), len(ids), x.ws.receivedAfter(x.faultAt)))
			},
			// The killed scheduler may have published a batch it never
			// committed; the survivor claims and publishes those ticks again.
			maxDuplicated: func(load, *runState) int64 { return 500 },
		},
		{
			name: "sigterm-all", what: "SIGTERM to every process at once mid-load; they drain and exit 0; restarted, ticks resume",
			servers: 1, workers: 2, post: 30 * time.Second,
			inject: func(t *testing.T, r *rig, x *runState) string {
				slowest, err := r.stopLive()
				if err != nil {
					x.failf("SIGTERM mid-load: %v", err)
				}
				q, err := r.inspectQueue(context.Background())
				require.NoError(t, err)
				x.checkQueue("after SIGTERM mid-load", q)
				half, err := r.consistency(context.Background())
				require.NoError(t, err)
				if len(half) > 0 {
					x.failf("half-written state after SIGTERM mid-load: %v", half)
				}
				var next []*proc
				for _, p := range x.servers {
					next = append(next, r.restart(p))
				}
				x.servers = next
				next = nil
				for _, p := range x.workers {
					next = append(next, r.restart(p))
				}
				x.workers = next
				x.down = time.Since(x.faultAt)
				return fmt.Sprintf("slowest exit %d ms, all exit 0; %d job messages left queued, none of their jobs probed or re-dispatchable; processes back after %.1f s",
					slowest.Milliseconds(), q.ready, x.down.Seconds())
			},
			// Draining finishes and acks every job in flight.
			maxDuplicated: func(load, *runState) int64 { return 0 },
		},
		{
			name: "notify-deliveries", what: fmt.Sprintf("%d webhook channels hear every flip; kill -9 a delivering server (replaced 3 s later), then crash PostgreSQL for 5 s, then restart RabbitMQ; every owed message must arrive, duplicates counted",
				notifyChannels),
			servers: 2, workers: 2, post: 60 * time.Second,
			before: notifyBefore,
			inject: notifyInject,
			after:  notifyAfter,
			// The three faults' bounds added up: server-kill's unconfirmed
			// batch, postgres-crash's re-probes while the database was
			// away, and rabbitmq-restart's redeliveries.
			maxDuplicated: func(l load, x *runState) int64 {
				secs := int64(x.down/time.Second) + 2
				return 500 + int64(len(x.workers)*l.concurrency)*secs +
					2*int64(len(x.workers)*2*l.concurrency+len(x.servers)*500)
			},
		},
		{
			name: "region-kill", what: "every check probed from eu, us and ap (quorum 2), one worker per region; kill -9 every worker of ap mid-load, none restarted",
			servers: 1, workers: 1, regions: regionNames, quorum: 2, post: 25 * time.Second,
			inject: regionKillInject,
			after:  regionKillAfter,
			// ap's jobs in flight when its worker died were probed and
			// never recorded: probes beyond the results, at most its
			// concurrency (a job holds its slot until its result is
			// recorded). Nothing of ap's is redelivered to anyone else; the
			// bound is worker-kill's.
			maxDuplicated: func(l load, _ *runState) int64 { return int64(2 * l.concurrency) },
		},
		{
			name: "hostile-targets", what: fmt.Sprintf("%d checks whose targets answer with NUL or invalid UTF-8 in gRPC messages, a 60 KB malformed header, a 16 MiB body, a slow-drip body, a redirect loop or a reset, registered over REST beside the load",
				hostileChecksPerKind*len(hostileKinds)),
			servers: 1, workers: 2, post: 20 * time.Second,
			before: func(t *testing.T, r *rig, x *runState) {
				h, err := startHostileTargets()
				require.NoError(t, err)
				t.Cleanup(h.close)
				x.hostile = h
				x.hostileIDs = registerHostile(t, x.servers[0].addr, h, r.s.load)
			},
			inject: func(*testing.T, *rig, *runState) string {
				return "no fault: the hostile checks run from before the window opens"
			},
			after: func(t *testing.T, r *rig, x *runState) {
				hostileReport(t, r, x, x.hostileIDs, x.from, x.to)
			},
			// Nothing is killed: no tick may be probed twice.
			maxDuplicated: func(load, *runState) int64 { return 0 },
		},
	}
}

func since(t time.Time) string { return fmt.Sprintf("%.1f s after the fault", time.Since(t).Seconds()) }

func (s *suite) run(t *testing.T, sc scenario) {
	ctx := context.Background()
	l := s.load
	logf := func(format string, args ...any) { t.Logf("[%s] "+format, append([]any{sc.name}, args...)...) }
	logf("%s", sc.what)
	r := newRig(t, s, sc.name, sc.regions, sc.quorum)
	x := &runState{}
	for range sc.servers {
		x.servers = append(x.servers, r.startServer())
	}
	if len(sc.regions) == 0 {
		for range sc.workers {
			x.workers = append(x.workers, r.startWorker())
		}
	}
	for _, region := range sc.regions {
		for range sc.workers {
			x.workers = append(x.workers, r.startWorkerIn(region))
		}
	}
	logf("%d server(s) and %d worker(s) ready; warming up %s", sc.servers, len(x.workers), warmup)
	time.Sleep(warmup)
	if sc.before != nil {
		sc.before(t, r, x)
	}
	from := time.Now()
	cpu0 := r.sampleCPU()
	time.Sleep(preFault)
	logf("steady load uses %s of %d", coresBetween(cpu0, r.sampleCPU()), runtime.NumCPU())
	r.requireNoUnexpectedExits()

	x.faultAt = time.Now()
	logf("injecting the fault")
	note := sc.inject(t, r, x)
	logf("fault injected: %s", note)
	time.Sleep(time.Until(x.faultAt.Add(sc.post)))
	to := time.Now()
	r.requireNoUnexpectedExits()

	// Ticks of the window may still be queued or in flight (late, after an
	// outage); wait for them, but no longer than a tick may be late.
	deadline := to.Add(l.catchUp + l.timeout + 5*time.Second)
	for {
		exp, got, err := r.windowCounts(ctx, from, to)
		if err == nil && got >= exp {
			break
		}
		if time.Now().After(deadline) {
			logf("window still incomplete after waiting: %d of %d ticks recorded (err %v)", got, exp, err)
			break
		}
		time.Sleep(time.Second)
	}
	x.from, x.to = from, to
	if sc.after != nil {
		sc.after(t, r, x)
	}
	r.requireNoUnexpectedExits()
	if _, err := r.stopLive(); err != nil {
		x.failf("final SIGTERM: %v", err)
	}

	queues := map[string]queueState{}
	for _, region := range append([]string{check.DefaultRegion}, sc.regions...) {
		if region == check.DefaultRegion && len(sc.regions) > 0 {
			continue // no job goes to the default region's queue
		}
		q, err := r.inspectRegionQueue(ctx, region)
		require.NoError(t, err)
		queues[region] = q
	}
	half, err := r.consistency(ctx)
	require.NoError(t, err)
	m, err := r.measure(ctx, from, to)
	require.NoError(t, err)
	faultOffset := x.faultAt.Sub(from)
	rec, ok := m.recovery(faultOffset)
	if len(x.notes) > 0 {
		note += "; " + strings.Join(x.notes, "; ")
	}
	loadDesc := fmt.Sprintf("%s, %d server(s), %d worker(s)", l, sc.servers, sc.workers)
	if len(sc.regions) > 0 {
		loadDesc = fmt.Sprintf("%s from %s (quorum %d, %d result(s) per tick), %d server(s), %d worker(s) per region",
			l, strings.Join(sc.regions, ","), sc.quorum, len(sc.regions), sc.servers, sc.workers)
	}
	rw := row{scenario: sc.name, load: loadDesc,
		t: m, recovery: rec, recovered: ok, note: note, windowSecs: to.Sub(from).Seconds()}
	s.mu.Lock()
	s.rows = append(s.rows, rw)
	s.mu.Unlock()
	logf("window %.0f s; %% of due ticks recorded per second (| marks the fault): %s", rw.windowSecs, m.rates(faultOffset))
	logf("%s\n%s", tableHeader, rw.markdown())
	if len(m.doubled) > 0 {
		logf("ticks probed twice, e.g.: %s", strings.Join(m.doubled, "; "))
	}
	if m.unprobed > 0 {
		logf("%d results have no request at the target", m.unprobed)
	}

	fail := x.failf
	if m.missing > 0 {
		fail("%d due ticks have no result although they were less than the catch-up window (%s) late when their check was probed again (expected %d, recorded %d, skipped by design %d)",
			m.missing, l.catchUp, m.expected, m.recorded, m.skipped)
	}
	if m.skipped > 0 {
		logf("%d ticks were skipped by design: the outage outlasted the %s catch-up window", m.skipped, l.catchUp)
	}
	if m.offGrid > 0 {
		fail("%d results have a tick off the check's grid", m.offGrid)
	}
	if len(half) > 0 {
		fail("half-written state: %v", half)
	}
	for region, q := range queues {
		when := "after the final SIGTERM"
		if len(sc.regions) > 0 {
			when += ", region " + region
		}
		x.checkQueue(when, q)
	}
	if !ok {
		fail("probing never came back to %.0f%% of the due rate within the window", recoveredRatio*100)
	}
	if bound := sc.maxDuplicated(l, x); m.duplicated > bound {
		fail("%d ticks probed more than once; at most %d may be (what was in flight when the fault hit): %v", m.duplicated, bound, m.doubled)
	}
	require.Empty(t, x.problems)
}

// checkQueue records what is wrong with the jobs queue once every process
// has exited: nothing may be unacknowledged or consumed, and no job left
// in it may be one that was already probed or that the scheduler will
// publish again.
func (x *runState) checkQueue(when string, q queueState) {
	if q.unacked > 0 || q.consumers > 0 {
		x.failf("%s: the jobs queue still has %d unacknowledged messages and %d consumers", when, q.unacked, q.consumers)
	}
	if q.surplus > 0 {
		x.failf("%s: %d queued jobs already have a result (probed, not acked): %v", when, q.surplus, q.examples)
	}
	if q.redispatch > 0 {
		x.failf("%s: %d queued jobs are for ticks the schedule was not advanced past, so they will be published again: %v",
			when, q.redispatch, q.examples)
	}
}
