//go:build faults

package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/store"
)

// load is the steady work every scenario runs under.
type load struct {
	checks      int
	interval    time.Duration
	timeout     time.Duration
	concurrency int // VIGIL_WORKER_CONCURRENCY of each worker
	hosts       int // loopback addresses the checks are spread over
	flappers    int // checks whose target flips between 200 and 503
	flapEvery   time.Duration
	grace       time.Duration // VIGIL_SHUTDOWN_TIMEOUT of every process
	catchUp     time.Duration // VIGIL_SCHEDULER_CATCH_UP
}

// dueRate is the probes per second the load asks for.
func (l load) dueRate() float64 { return float64(l.checks) / l.interval.Seconds() }

func (l load) String() string {
	return fmt.Sprintf("%d checks @ %s (%.0f probes/s)", l.checks, l.interval, l.dueRate())
}

// defaultLoad is what `make test-faults` runs: 2,000 checks at 5s, 400
// probes/s, which the 2-core CI machine sustains with headroom (see
// docs/reliability.md). VIGIL_FAULTS_CHECKS and VIGIL_FAULTS_INTERVAL
// change it for a bigger machine, VIGIL_FAULTS_CATCH_UP the scheduler's
// catch-up window.
func defaultLoad(t *testing.T) load {
	l := load{checks: 2000, interval: 5 * time.Second, timeout: 2 * time.Second, concurrency: 64, hosts: 32,
		flappers: 20, flapEvery: 10 * time.Second, grace: 10 * time.Second, catchUp: 30 * time.Second}
	if v := os.Getenv("VIGIL_FAULTS_CHECKS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "VIGIL_FAULTS_CHECKS")
		l.checks = n
	}
	if v := os.Getenv("VIGIL_FAULTS_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "VIGIL_FAULTS_INTERVAL")
		l.interval = d
	}
	// A catch-up window shorter than the outages shows the other half of
	// the contract: ticks older than the window are skipped, never burst.
	if v := os.Getenv("VIGIL_FAULTS_CATCH_UP"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "VIGIL_FAULTS_CATCH_UP")
		l.catchUp = d
	}
	require.GreaterOrEqual(t, l.checks, l.flappers)
	return l
}

// suite is what the scenarios share: the binary, the private database and
// broker (each scenario gets its own database and vhost on them) and the
// rows of the report.
type suite struct {
	root  string // repository root
	dir   string // everything the run writes
	bin   string
	ports int // first port of the block
	pg    *postgresInstance
	mq    *rabbitInstance
	load  load

	mu   sync.Mutex
	rows []row
}

func newSuite(t *testing.T) *suite {
	ctx := context.Background()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	dir := os.Getenv("VIGIL_FAULTS_DIR")
	if dir == "" {
		dir, err = os.MkdirTemp("", "vigil-faults-") //nolint:usetesting // kept when the suite fails, for its logs; t.TempDir would delete it
		require.NoError(t, err)
		// Registered first, so it runs after the instances have stopped.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("logs kept in %s", dir)
				return
			}
			_ = os.RemoveAll(dir)
		})
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	// The postgres user runs the database in a folder below this one.
	require.NoError(t, os.Chmod(dir, 0o755))
	ports, err := pickPortBlock()
	require.NoError(t, err)
	s := &suite{root: root, dir: dir, ports: ports, load: defaultLoad(t)}
	t.Logf("fault suite: %s; files in %s; ports %d-%d", s.load, dir, ports, ports+portBlock-1)

	s.bin = os.Getenv("VIGIL_FAULTS_BIN")
	if s.bin == "" {
		s.bin = filepath.Join(dir, "vigil")
		t.Logf("building %s", s.bin)
		// go test puts its own Go first in PATH.
		cmd := exec.Command("go", "build", "-o", s.bin, "./cmd/vigil")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "build vigil: %s", out)
	}

	s.pg = &postgresInstance{root: root, dir: filepath.Join(dir, "postgres"), port: ports + offPostgres}
	s.mq = &rabbitInstance{root: root, dir: filepath.Join(dir, "rabbitmq"), port: ports + offRabbit}
	// Stop the instances however the test ends; kill them if a stop fails,
	// so no stray database or broker outlives the run.
	t.Cleanup(func() {
		ctx := context.Background()
		if err := s.mq.stop(ctx); err != nil {
			t.Logf("stop rabbitmq: %v; killing it", err)
			_ = s.mq.kill(ctx)
		}
		if err := s.pg.stop(ctx); err != nil {
			t.Logf("stop postgres: %v; killing it", err)
			_ = s.pg.kill(ctx)
		}
	})
	t.Logf("starting private PostgreSQL on %d and RabbitMQ on %d", s.pg.port, s.mq.port)
	var wg sync.WaitGroup
	var pgErr, mqErr error
	wg.Add(2)
	go func() { defer wg.Done(); pgErr = s.pg.start(ctx) }()
	go func() { defer wg.Done(); mqErr = s.mq.start(ctx) }()
	wg.Wait()
	require.NoError(t, pgErr, "start private PostgreSQL (PostgreSQL server binaries are required)")
	require.NoError(t, mqErr, "start private RabbitMQ (rabbitmq-server is required)")
	return s
}

// ensureUp restarts an instance a failed scenario left down.
func (s *suite) ensureUp(t *testing.T) {
	ctx := context.Background()
	if !s.pg.up(ctx) {
		t.Log("private PostgreSQL is down; starting it")
		require.NoError(t, s.pg.start(ctx))
	}
	if !s.mq.up() {
		t.Log("private RabbitMQ is down; starting it")
		require.NoError(t, s.mq.start(ctx))
	}
}

// rig is one scenario's Vigil: its own database and vhost on the private
// instances, its own target server and its own processes.
type rig struct {
	t      *testing.T
	s      *suite
	name   string
	db     string
	vhost  string
	logDir string
	target *target
	pool   *pgxpool.Pool
	index  map[string]int // check id -> target path number
	// regions and quorum are the checks' (none: the default region
	// alone); dead holds the regions whose workers the scenario killed,
	// with when, so their ticks from then on are not expected.
	regions []string
	quorum  int
	dead    map[string]time.Time

	mu               sync.Mutex
	procs            []*proc
	servers, workers int
}

// newRig registers the load's checks, probed from regions with quorum
// when regions is not empty.
func newRig(t *testing.T, s *suite, name string, regions []string, quorum int) *rig {
	ctx := context.Background()
	s.ensureUp(t)
	slug := strings.ReplaceAll(name, "-", "_")
	r := &rig{t: t, s: s, name: name, db: "faults_" + slug, vhost: "faults-" + name,
		logDir: filepath.Join(s.dir, "logs", name), index: map[string]int{},
		regions: regions, quorum: quorum, dead: map[string]time.Time{}}
	require.NoError(t, os.MkdirAll(r.logDir, 0o755))

	require.NoError(t, s.pg.exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+r.db+" WITH (FORCE)"))
	require.NoError(t, s.pg.exec(ctx, "postgres", "CREATE DATABASE "+r.db))
	_, _ = s.mq.ctl(ctx, "delete_vhost", r.vhost)
	_, err := s.mq.ctl(ctx, "add_vhost", r.vhost)
	require.NoError(t, err)
	_, err = s.mq.ctl(ctx, "set_permissions", "-p", r.vhost, "guest", ".*", ".*", ".*")
	require.NoError(t, err)

	// A scenario with regions asserts that no check goes DOWN, so its
	// targets do not flap.
	flappers := s.load.flappers
	if len(regions) > 0 {
		flappers = 0
	}
	tg, err := startTarget(s.load.checks, s.load.hosts, flappers, s.load.flapEvery)
	require.NoError(t, err)
	r.target = tg

	// Processes first, then the database and vhost: cleanups run last in,
	// first out.
	t.Cleanup(func() {
		ctx := context.Background()
		if r.pool != nil {
			r.pool.Close()
		}
		r.target.close()
		if err := s.pg.exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+r.db+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", r.db, err)
		}
		if _, err := s.mq.ctl(ctx, "delete_vhost", r.vhost); err != nil {
			t.Logf("delete vhost %s: %v", r.vhost, err)
		}
	})
	t.Cleanup(r.stopAll)

	st, err := store.Open(ctx, s.pg.url(r.db), 16)
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Migrate(ctx)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, r.register(ctx, st))
	t.Logf("registered %d checks in %s", s.load.checks, time.Since(start).Round(time.Millisecond))

	r.pool, err = pgxpool.New(ctx, s.pg.url(r.db))
	require.NoError(t, err)
	rows, err := r.pool.Query(ctx, `SELECT id, name FROM services`)
	require.NoError(t, err)
	for rows.Next() {
		var id, nm string
		require.NoError(t, rows.Scan(&id, &nm))
		n, err := strconv.Atoi(strings.TrimPrefix(nm, "fault-"))
		require.NoError(t, err)
		r.index[id] = n
	}
	require.NoError(t, rows.Err())
	require.Len(t, r.index, s.load.checks)
	return r
}

// register creates the checks through the store, as the REST API would.
func (r *rig) register(ctx context.Context, st *store.Store) error {
	l := r.s.load
	next := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range next {
				c := &check.Check{Name: fmt.Sprintf("fault-%05d", i), URL: r.target.urlOf(i),
					Interval: l.interval, Timeout: l.timeout, Tags: []string{"faults"}, Regions: r.regions, Quorum: r.quorum}
				c.SetDefaults()
				if _, err := st.CreateService(ctx, c); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range l.checks {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func (r *rig) env() []string {
	l := r.s.load
	return append(cleanEnv(),
		"VIGIL_DATABASE_URL="+r.s.pg.url(r.db),
		"VIGIL_AMQP_URL="+r.s.mq.url(r.vhost),
		"VIGIL_LOG_LEVEL=warn",
		"VIGIL_LOG_FORMAT=json",
		"VIGIL_MIGRATE=false",
		"VIGIL_DENY_NETWORKS=",
		"VIGIL_DB_WAIT=60s",
		"VIGIL_WORKER_CONCURRENCY="+strconv.Itoa(l.concurrency),
		"VIGIL_SHUTDOWN_TIMEOUT="+l.grace.String(),
		"VIGIL_SCHEDULER_CATCH_UP="+l.catchUp.String(),
	)
}

// startServer starts a `vigil server` (REST, WebSocket, scheduler) and
// waits until it is ready.
func (r *rig) startServer() *proc {
	r.mu.Lock()
	i := r.servers
	r.servers++
	r.mu.Unlock()
	require.Less(r.t, i, maxServerProcs)
	addr := fmt.Sprintf("127.0.0.1:%d", r.s.ports+offServers+i)
	return r.start(fmt.Sprintf("server-%d", i), "server", addr, "", "VIGIL_HTTP_ADDR="+addr)
}

// startWorker starts a `vigil worker` of the default region and waits
// until it is ready.
func (r *rig) startWorker() *proc { return r.startWorkerIn("") }

// startWorkerIn starts a `vigil worker` of region (VIGIL_REGION; "" for
// the default region) and waits until it is ready.
func (r *rig) startWorkerIn(region string) *proc {
	r.mu.Lock()
	i := r.workers
	r.workers++
	r.mu.Unlock()
	require.Less(r.t, i, maxWorkerProcs)
	addr := fmt.Sprintf("127.0.0.1:%d", r.s.ports+offWorkers+i)
	name := fmt.Sprintf("worker-%d", i)
	if region == "" {
		return r.start(name, "worker", addr, "", "VIGIL_METRICS_ADDR="+addr)
	}
	return r.start(name+"-"+region, "worker", addr, region, "VIGIL_METRICS_ADDR="+addr, "VIGIL_REGION="+region)
}

func (r *rig) start(name, kind, addr, region string, extra ...string) *proc {
	p, err := startProc(name, kind, r.s.bin, addr, r.logDir, append(r.env(), extra...))
	require.NoError(r.t, err)
	p.region = region
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	require.NoError(r.t, p.waitReady(context.Background(), 60*time.Second))
	return p
}

// restart starts a fresh process of the same kind on the same address as p
// (after p has exited), as an orchestrator would.
func (r *rig) restart(p *proc) *proc {
	require.False(r.t, p.running(), "%s still runs", p.name)
	extra := []string{"VIGIL_HTTP_ADDR=" + p.addr}
	if p.kind == "worker" {
		extra = []string{"VIGIL_METRICS_ADDR=" + p.addr}
	}
	if p.region != "" {
		extra = append(extra, "VIGIL_REGION="+p.region)
	}
	return r.start(p.name+"r", p.kind, p.addr, p.region, extra...)
}

// live returns the processes the suite has not ended.
func (r *rig) live() []*proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*proc
	for _, p := range r.procs {
		if !p.doomed.Load() {
			out = append(out, p)
		}
	}
	return out
}

// requireNoUnexpectedExits fails when a process ended that the suite did
// not end.
func (r *rig) requireNoUnexpectedExits() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.procs {
		require.False(r.t, p.unexpected(), "process exited unexpectedly: %s", p.describeExit())
	}
}

// stopLive sends SIGTERM to every live process at once and checks that
// each exits with code 0 within its grace period (plus a second for the
// process to be reaped). It returns the slowest exit.
func (r *rig) stopLive() (time.Duration, error) {
	procs := r.live()
	type exit struct {
		p    *proc
		took time.Duration
		code int
	}
	exits := make(chan exit, len(procs))
	for _, p := range procs {
		go func() {
			took, code := p.terminate(r.s.load.grace + 20*time.Second)
			exits <- exit{p, took, code}
		}()
	}
	var slowest time.Duration
	var errs []error
	for range procs {
		e := <-exits
		slowest = max(slowest, e.took)
		if e.code != 0 {
			errs = append(errs, fmt.Errorf("%s: exit code %d after SIGTERM (%s)\n%s", e.p.name, e.code, e.took, e.p.tail(15)))
		}
		if e.took > r.s.load.grace+time.Second {
			errs = append(errs, fmt.Errorf("%s took %s to exit after SIGTERM, grace is %s\n%s",
				e.p.name, e.took.Round(time.Millisecond), r.s.load.grace, e.p.tail(15)))
		}
	}
	return slowest, errors.Join(errs...)
}

// stopAll ends every process, gracefully if it can; it is the rig's
// cleanup and asserts nothing.
func (r *rig) stopAll() {
	r.mu.Lock()
	procs := append([]*proc(nil), r.procs...)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.terminate(r.s.load.grace + 20*time.Second) })
	}
	wg.Wait()
}
