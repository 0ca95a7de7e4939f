// Command bench is Vigil's load harness. It registers N checks against a
// local target server, runs `vigil server` and `vigil worker` as separate
// processes against the real PostgreSQL and RabbitMQ (each run in its own
// schema and vhost), and reports the achieved probe rate against N/interval,
// the dispatch lag (checked_at - scheduled_at), missed ticks and the CPU
// every process spent, PostgreSQL and RabbitMQ included.
//
//	go run ./hack/bench -checks 10000 -interval 10s -duration 2m
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/store"
)

type options struct {
	checks      int
	interval    time.Duration
	timeout     time.Duration
	duration    time.Duration
	warmup      time.Duration
	workers     int
	servers     int
	concurrency int
	bin         string
	dbURL       string
	amqpURL     string
	keep        bool
	jsonOut     string
	slowPercent int
	slowDelay   time.Duration
	slowFor     time.Duration
	logLevel    string
	extraEnv    string
	hosts       int
	vacuumEvery time.Duration
	bodyBytes   int
	conditions  []string
	churn       bool
	regions     []string
	profileDir  string
}

func main() {
	var o options
	flag.IntVar(&o.checks, "checks", 1000, "number of checks to register")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "check interval")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Second, "probe timeout")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "measured time, after warmup")
	flag.DurationVar(&o.warmup, "warmup", 20*time.Second, "time to settle before measuring")
	flag.DurationVar(&o.vacuumEvery, "vacuum-every", time.Minute, "when the server's autovacuum is off, VACUUM the hot tables this often, as autovacuum would (0: never)")
	flag.IntVar(&o.workers, "workers", 2, "vigil worker processes")
	flag.IntVar(&o.servers, "servers", 1, "vigil server processes (each runs a scheduler)")
	flag.IntVar(&o.concurrency, "concurrency", 1024, "VIGIL_WORKER_CONCURRENCY per worker")
	flag.StringVar(&o.bin, "bin", "bin/vigil", "vigil binary (make build)")
	flag.StringVar(&o.dbURL, "db", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL admin URL")
	flag.StringVar(&o.amqpURL, "amqp", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL (a vhost per run is created with rabbitmqctl)")
	flag.BoolVar(&o.keep, "keep", false, "keep the schema and vhost afterwards")
	flag.StringVar(&o.jsonOut, "json", "", "also write the report as JSON to this file")
	flag.IntVar(&o.slowPercent, "slow-percent", 0, "percentage of targets that answer slowly")
	flag.DurationVar(&o.slowDelay, "slow-delay", time.Second, "how slowly the slow targets answer")
	flag.DurationVar(&o.slowFor, "slow-for", 0, "the slow targets answer quickly from this far into the window on, and the report says how soon the lag recovered (0: slow throughout)")
	flag.StringVar(&o.logLevel, "log-level", "warn", "VIGIL_LOG_LEVEL of the processes")
	flag.StringVar(&o.extraEnv, "env", "", "extra KEY=VALUE,KEY=VALUE for the vigil processes")
	flag.IntVar(&o.bodyBytes, "body-bytes", 0, "answer a JSON health document of about this many bytes ({\"status\":\"UP\",...}) instead of \"ok\"")
	flag.Func("condition", "a CEL condition every check carries (repeat for more), such as 'json.status == \"UP\"'", func(v string) error {
		o.conditions = append(o.conditions, v)
		return nil
	})
	flag.BoolVar(&o.churn, "history-churn", false, "let the servers' maintenance roll up a window's worth of seeded results, drop their expired partition and create one ahead during the window (see history.go)")
	flag.Func("regions", "probe every check from these regions (comma-separated), each with -workers workers of its own, quorum a majority", func(v string) error {
		for r := range strings.SplitSeq(v, ",") {
			if !check.IsRegionName(r) {
				return fmt.Errorf("%q is not a region name", r)
			}
			o.regions = append(o.regions, r)
		}
		return nil
	})
	flag.IntVar(&o.hosts, "hosts", 32, "loopback addresses (127.0.0.1..) the target listens on; checks are spread over them like checks of many services")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU profiles of every process (and PostgreSQL's heaviest statements, where pg_stat_statements is loaded) taken inside the window to this folder")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type report struct {
	Checks            int                `json:"checks"`
	Regions           []string           `json:"regions,omitempty"`
	IntervalSeconds   float64            `json:"interval_seconds"`
	Workers           int                `json:"workers"`
	Servers           int                `json:"servers"`
	Concurrency       int                `json:"concurrency"`
	WindowSeconds     float64            `json:"window_seconds"`
	DueRate           float64            `json:"due_probes_per_second"`
	AchievedRate      float64            `json:"achieved_probes_per_second"`
	ExpectedTicks     int64              `json:"expected_ticks"`
	RecordedTicks     int64              `json:"recorded_ticks"`
	MissingTicks      int64              `json:"missing_ticks"`
	OffGridTicks      int64              `json:"off_grid_ticks"`
	LagP50ms          float64            `json:"lag_p50_ms"`
	LagP99ms          float64            `json:"lag_p99_ms"`
	LagMaxms          float64            `json:"lag_max_ms"`
	CPUSeconds        map[string]float64 `json:"cpu_seconds"`
	CPUPer1000        float64            `json:"cpu_seconds_per_1000_probes"`
	CPUPer1000ByProc  map[string]float64 `json:"cpu_seconds_per_1000_probes_by_process"`
	RSSMiB            map[string]float64 `json:"rss_mib"`
	ResultBytesPerMil float64            `json:"results_bytes_per_million"`
	QueryMs           map[string]float64 `json:"query_execution_ms"`
	QueryPlans        map[string]string  `json:"query_plans"`
	// PostgresSettings are the server settings that move these figures
	// most, and Checkpoints how many checkpoints began in the window: each
	// is followed by a burst of full-page writes.
	PostgresSettings map[string]string `json:"postgres_settings"`
	Checkpoints      int64             `json:"checkpoints"`
	// MissedByReason is how many ticks the processes counted as not
	// probed during the window (and the seconds after it that let its
	// last probes finish), by reason: vigil_ticks_missed_total.
	MissedByReason map[string]float64 `json:"missed_ticks_by_reason,omitempty"`
	// Recovery is what -slow-for measured; nil without it.
	Recovery *recoveryReport `json:"recovery,omitempty"`
	// Churn is what -history-churn saw; nil without it.
	Churn *churnReport `json:"history_churn,omitempty"`
}

// vacuumLoop stands in for autovacuum on a server where it is off (as on
// this project's build machine): the schedule and state tables are
// rewritten once per interval per check, and without vacuum their dead
// rows pile up for the whole run, which no production server allows.
// Its cost is counted with PostgreSQL's, as autovacuum's would be.
func vacuumLoop(ctx context.Context, admin *pgx.Conn, schema string, every time.Duration) (stop func()) {
	var on string
	if err := admin.QueryRow(ctx, "SELECT current_setting('autovacuum')").Scan(&on); err != nil || on == "on" || every <= 0 {
		return func() {}
	}
	conn, err := pgx.Connect(ctx, mustParam(admin.Config().ConnString(), schema))
	if err != nil {
		fmt.Printf("vacuum loop: %v\n", err)
		return func() {}
	}
	fmt.Printf("autovacuum is off on this server: vacuuming schedule and check_state every %s instead\n", every)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = conn.Close(context.Background()) }()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := conn.Exec(ctx, "VACUUM schedule, check_state"); err != nil && ctx.Err() == nil {
					fmt.Printf("vacuum: %v\n", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// postgresSettings reads the server settings a reader of the report needs
// to compare runs.
func postgresSettings(ctx context.Context, admin *pgx.Conn) map[string]string {
	out := map[string]string{}
	for _, name := range []string{"server_version", "autovacuum", "shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression", "synchronous_commit"} {
		var v string
		if err := admin.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err == nil {
			out[name] = v
		}
	}
	return out
}

// checkpoints is how many checkpoints the server has begun since its
// statistics were reset.
func checkpoints(ctx context.Context, admin *pgx.Conn) int64 {
	var n int64
	_ = admin.QueryRow(ctx, "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").Scan(&n)
	return n
}

// explain runs EXPLAIN ANALYZE and returns the plan and its execution time.
func explain(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) (string, float64, error) {
	rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		return "", 0, err
	}
	defer rows.Close()
	var (
		lines []string
		ms    float64
	)
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", 0, err
		}
		lines = append(lines, line)
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Execution Time: "); ok {
			ms, _ = strconv.ParseFloat(strings.TrimSuffix(v, " ms"), 64)
		}
	}
	return strings.Join(lines, "\n"), ms, rows.Err()
}

func run(ctx context.Context, o options) error {
	stamp := time.Now().UTC().Format("20060102t150405")
	schema, vhost := "vigil_bench_"+stamp, "vigil-bench-"+stamp

	target, err := startTarget(o.slowPercent, o.slowDelay, max(o.hosts, 1), healthDocument(o.bodyBytes))
	if err != nil {
		return err
	}
	defer target.Close()

	admin, err := pgx.Connect(ctx, o.dbURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer func() { _ = admin.Close(context.Background()) }()
	dbURL, amqpURL, cleanup, err := isolate(ctx, admin, o, schema, vhost)
	if err != nil {
		return err
	}
	defer cleanup()
	st, err := openStore(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()

	env := benchEnv(o, dbURL, amqpURL)
	var churn *churnPlan
	if o.churn {
		var closeChurn func()
		if churn, env, closeChurn, err = prepareChurn(ctx, st, dbURL, o, env); err != nil {
			return err
		}
		defer closeChurn()
	}
	procs, logDir, err := startProcs(o, env)
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	if err != nil {
		return err
	}
	// Register while the processes run, as users do: each check's first
	// tick is on its phase after registration, so nothing starts late.
	fmt.Printf("started %d server(s) and %d worker(s); logs in %s\n", o.servers, len(procs)-o.servers, logDir)
	fmt.Printf("registering %d checks at %s against %d target addresses\n", o.checks, o.interval, len(target.urls))
	if err := register(ctx, st, o, target.urls); err != nil {
		return err
	}
	stopVacuum := vacuumLoop(ctx, admin, schema, o.vacuumEvery)
	defer stopVacuum()
	rep, err := runWindow(ctx, o, st, admin, schema, procs, churn, target)
	if err != nil {
		return err
	}
	printReport(rep)
	if o.jsonOut == "" {
		return nil
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	return os.WriteFile(o.jsonOut, b, 0o644)
}

// openStore connects to the run's schema and migrates it.
func openStore(ctx context.Context, dbURL string) (*store.Store, error) {
	st, err := store.Open(ctx, dbURL, 16)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// isolate gives the run a schema and a virtual host of its own and returns
// their URLs, and what removes them again unless o.keep says to keep them.
func isolate(ctx context.Context, admin *pgx.Conn, o options, schema, vhost string) (dbURL, amqpURL string, cleanup func(), err error) {
	dbURL, dropSchema, err := createSchema(ctx, admin, o.dbURL, schema)
	if err != nil {
		return "", "", nil, err
	}
	amqpURL, deleteVhost, err := createVhost(o.amqpURL, vhost)
	if err != nil {
		if !o.keep {
			dropSchema()
		}
		return "", "", nil, err
	}
	if o.keep {
		return dbURL, amqpURL, func() {}, nil
	}
	return dbURL, amqpURL, func() { deleteVhost(); dropSchema() }, nil
}

// createSchema creates the run's own schema and returns the database URL
// that uses it, and what drops it.
func createSchema(ctx context.Context, admin *pgx.Conn, baseURL, schema string) (string, func(), error) {
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") }
	dbURL, err := withParam(baseURL, "search_path", schema)
	if err != nil {
		drop()
		return "", nil, err
	}
	return dbURL, drop, nil
}

// createVhost creates the run's own virtual host and returns the broker URL
// that uses it, and what deletes it.
func createVhost(baseURL, vhost string) (string, func(), error) {
	if out, err := exec.Command("rabbitmqctl", "add_vhost", vhost).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("rabbitmqctl add_vhost: %w: %s", err, out)
	}
	del := func() { _ = exec.Command("rabbitmqctl", "delete_vhost", vhost).Run() }
	if out, err := exec.Command("rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*").CombinedOutput(); err != nil {
		del()
		return "", nil, fmt.Errorf("rabbitmqctl set_permissions: %w: %s", err, out)
	}
	return strings.TrimSuffix(baseURL, "/") + "/" + url.PathEscape(vhost), del, nil
}

// benchEnv is the environment of every server and worker of the run.
func benchEnv(o options, dbURL, amqpURL string) []string {
	env := append(os.Environ(),
		"VIGIL_DATABASE_URL="+dbURL, "VIGIL_AMQP_URL="+amqpURL, "VIGIL_LOG_LEVEL="+o.logLevel,
		"VIGIL_MIGRATE=false", "VIGIL_DENY_NETWORKS=", fmt.Sprintf("VIGIL_WORKER_CONCURRENCY=%d", o.concurrency))
	for kv := range strings.SplitSeq(o.extraEnv, ",") {
		if kv != "" {
			env = append(env, kv)
		}
	}
	return env
}

// startProcs starts the run's servers and workers, each on a free port, and
// returns them (those started so far, on an error) with their log folder.
func startProcs(o options, env []string) ([]*proc, string, error) {
	logDir, err := os.MkdirTemp("", "vigil-bench-logs-")
	if err != nil {
		return nil, "", err
	}
	// One set of workers per region; the default region's when there
	// are none.
	type kind struct {
		name, cmd, addrVar string
		n                  int
		env                []string
	}
	kinds := []kind{{"server", "server", "VIGIL_HTTP_ADDR", o.servers, nil}}
	if len(o.regions) == 0 {
		kinds = append(kinds, kind{"worker", "worker", "VIGIL_METRICS_ADDR", o.workers, nil})
	}
	for _, r := range o.regions {
		kinds = append(kinds, kind{"worker-" + r, "worker", "VIGIL_METRICS_ADDR", o.workers, []string{"VIGIL_REGION=" + r}})
	}
	var procs []*proc
	for _, k := range kinds {
		for i := range k.n {
			port, err := freePort()
			if err != nil {
				return procs, logDir, err
			}
			penv := append(slices.Clone(env), k.env...)
			pprofAddr := ""
			if o.profileDir != "" {
				pport, err := freePort()
				if err != nil {
					return procs, logDir, err
				}
				pprofAddr = fmt.Sprintf("127.0.0.1:%d", pport)
				penv = append(penv, profileEnv(pprofAddr)...)
			}
			p, err := startProc(fmt.Sprintf("%s-%d", k.name, i), o.bin, []string{k.cmd}, append(penv,
				fmt.Sprintf("%s=127.0.0.1:%d", k.addrVar, port)), logDir)
			if err != nil {
				return procs, logDir, err
			}
			p.pprofAddr = pprofAddr
			p.metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
			procs = append(procs, p)
		}
	}
	return procs, logDir, nil
}

// runWindow warms up, measures for the run's duration, lets the window's
// last probes be recorded, and reports on the window.
func runWindow(ctx context.Context, o options, st *store.Store, admin *pgx.Conn, schema string, procs []*proc, churn *churnPlan, tg *target) (report, error) {
	fmt.Printf("warming up %s\n", o.warmup)
	if err := sleep(ctx, o.warmup); err != nil {
		return report{}, err
	}
	svc := servicesUnderTest(ctx, admin)
	windowStart := time.Now()
	ckpt0 := checkpoints(ctx, admin)
	cpu0 := sampleCPU(procs, svc)
	missed0 := scrapeMissed(ctx, procs)
	stopChurn := func() *churnReport { return nil }
	if churn != nil {
		stop := watchChurn(ctx, churn.pool, *churn, windowStart, o.duration)
		stopChurn = func() *churnReport { r := stop(); return &r }
	}
	fmt.Printf("measuring for %s from %s\n", o.duration, windowStart.UTC().Format("15:04:05.000"))
	finishProfiles, err := startProfiles(ctx, o, admin, procs)
	if err != nil {
		return report{}, err
	}
	var switched time.Time
	if o.slowFor > 0 && o.slowPercent > 0 {
		switchAt := time.AfterFunc(o.slowFor, func() { tg.slow.Store(false) })
		defer switchAt.Stop()
		switched = windowStart.Add(o.slowFor)
	}
	if err := sleep(ctx, o.duration); err != nil {
		stopChurn()
		return report{}, err
	}
	windowEnd := time.Now()
	cpu1 := sampleCPU(procs, svc)
	finishProfiles()
	ckpt1 := checkpoints(ctx, admin)
	rss := sampleRSS(procs)
	churnRep := stopChurn() // after the CPU sample: its size queries are the harness's
	for _, p := range procs {
		if p.exited() {
			return report{}, fmt.Errorf("%s exited during the run; see %s", p.name, p.logPath)
		}
	}
	// Let the probes of the window's last ticks finish and be recorded.
	if err := sleep(ctx, o.timeout+3*time.Second); err != nil {
		return report{}, err
	}
	missed1 := scrapeMissed(ctx, procs)
	rep, err := measure(ctx, st, admin, schema, o, windowStart, windowEnd)
	if err != nil {
		return report{}, err
	}
	rep.MissedByReason = missed1.since(missed0)
	rep.CPUSeconds, rep.CPUPer1000, rep.CPUPer1000ByProc = cpuReport(cpu0, cpu1, rep.RecordedTicks)
	rep.RSSMiB = rss
	rep.PostgresSettings = postgresSettings(ctx, admin)
	rep.Checkpoints = ckpt1 - ckpt0
	rep.Churn = churnRep
	if !switched.IsZero() {
		rep.Recovery, err = recoveryOf(ctx, admin, schema, o, windowStart, windowEnd, switched)
	}
	return rep, err
}

// servicesUnderTest finds the PostgreSQL and RabbitMQ processes whose CPU
// the report counts.
func servicesUnderTest(ctx context.Context, admin *pgx.Conn) servicePIDs {
	svc := servicePIDs{broker: brokerPID()}
	// The backend serving this connection is a child of the postmaster.
	var backend int
	if err := admin.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err == nil {
		svc.postmaster = parentPID(backend)
	}
	return svc
}

// recoveryOf measures -slow-for's recovery on a pool of the run's schema.
func recoveryOf(ctx context.Context, admin *pgx.Conn, schema string, o options, from, to, switched time.Time) (*recoveryReport, error) {
	pool, err := pgxpool.New(ctx, mustParam(admin.Config().ConnString(), schema))
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return measureRecovery(ctx, pool, o, from, to, switched)
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func withParam(raw, k, v string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", raw, err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func register(ctx context.Context, st *store.Store, o options, base []string) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				c := &check.Check{Name: fmt.Sprintf("bench-%06d", i), URL: fmt.Sprintf("%s/t/%d", base[i%len(base)], i),
					Interval: o.interval, Timeout: o.timeout, Tags: []string{"bench"}, Conditions: o.conditions,
					Regions: o.regions, Quorum: check.DefaultQuorum(len(o.regions))}
				c.SetDefaults()
				if _, err := st.CreateService(ctx, c); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range o.checks {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// target is the local server the checks probe, listening on several
// loopback addresses so that, as in real deployments, checks spread over
// many hosts (each with its own keep-alive pool in the workers).
type target struct {
	srv  *http.Server
	urls []string
	// slow is cleared when -slow-for ends the overload.
	slow atomic.Bool
}

func (t *target) Close() { _ = t.srv.Close() }

// healthDocument is a JSON health document of about n bytes with
// "status":"UP", as a Spring Boot or similar health endpoint answers; ""
// for n of 0.
func healthDocument(n int) string {
	if n <= 0 {
		return ""
	}
	var sb strings.Builder
	sb.WriteString(`{"status":"UP","components":{`)
	for i := 0; sb.Len() < n-64; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"component-%03d":{"status":"UP","latency_ms":%d}`, i, i%97)
	}
	sb.WriteString(`}}`)
	return sb.String()
}

func startTarget(slowPercent int, slowDelay time.Duration, hosts int, body string) (*target, error) {
	t := &target{}
	t.slow.Store(true)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slowPercent > 0 && t.slow.Load() {
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/t/"))
			if n%100 < slowPercent {
				time.Sleep(slowDelay)
			}
		}
		if body == "" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})
	t.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	srv := t.srv
	for i := range hosts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 1+i%250))
		if err != nil {
			t.Close()
			return nil, err
		}
		go func() { _ = srv.Serve(ln) }()
		t.urls = append(t.urls, "http://"+ln.Addr().String())
	}
	return t, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("listener address %v is not TCP", ln.Addr())
	}
	return addr.Port, nil
}

type proc struct {
	name       string
	pprofAddr  string // the profiler's, with -profile
	metricsURL string
	cmd        *exec.Cmd
	logPath    string
	done       chan struct{}
}

func startProc(name, bin string, args, env []string, logDir string) (*proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func measure(ctx context.Context, _ *store.Store, admin *pgx.Conn, schema string, o options, from, to time.Time) (report, error) {
	rep := report{Checks: o.checks, Regions: o.regions, IntervalSeconds: o.interval.Seconds(), Workers: o.workers, Servers: o.servers,
		Concurrency: o.concurrency, WindowSeconds: to.Sub(from).Seconds(), DueRate: float64(o.checks) / o.interval.Seconds()}
	pool, err := pgxpool.New(ctx, mustParam(admin.Config().ConnString(), schema))
	if err != nil {
		return rep, err
	}
	defer pool.Close()
	if err := countTicks(ctx, pool, &rep, o.regions, from, to); err != nil {
		return rep, err
	}
	rep.AchievedRate = float64(rep.RecordedTicks) / rep.WindowSeconds
	err = pool.QueryRow(ctx, `SELECT
			coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), 0),
			coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), 0),
			coalesce(max(lag), 0)
		FROM (SELECT extract(epoch FROM checked_at - scheduled_at) * 1000 AS lag
		      FROM check_results WHERE scheduled_at >= $1 AND scheduled_at < $2) l`, from, to).
		Scan(&rep.LagP50ms, &rep.LagP99ms, &rep.LagMaxms)
	if err != nil {
		return rep, fmt.Errorf("lag percentiles: %w", err)
	}
	if err := explainQueries(ctx, pool, &rep); err != nil {
		return rep, err
	}
	var bytes, n int64
	// check_results is partitioned: its own size is zero, its
	// partitions' sizes are the table's.
	if err := pool.QueryRow(ctx, `SELECT (SELECT coalesce(sum(pg_total_relation_size(relid)), 0)::bigint
			FROM pg_partition_tree('check_results')), (SELECT count(*) FROM check_results)`).Scan(&bytes, &n); err != nil {
		return rep, err
	}
	if n > 0 {
		rep.ResultBytesPerMil = float64(bytes) / float64(n) * 1e6
	}
	return rep, nil
}

// countTicks counts the window's expected, recorded, missing and off-grid
// ticks into rep.
func countTicks(ctx context.Context, pool *pgxpool.Pool, rep *report, regions []string, from, to time.Time) error {
	// Expected ticks per check: its grid points in [from, to). Any stored
	// grid point (schedule.next_run_at) gives the check's phase.
	rows, err := pool.Query(ctx, `SELECT s.id, sc.next_run_at, s.interval_ms,
			(SELECT count(*) FROM check_results r WHERE r.check_id = s.id AND r.scheduled_at >= $1 AND r.scheduled_at < $2)
		FROM services s JOIN schedule sc ON sc.check_id = s.id`, from, to)
	if err != nil {
		return fmt.Errorf("count results: %w", err)
	}
	for rows.Next() {
		var (
			id         string
			grid       time.Time
			intervalMs int64
			got        int64
		)
		if err := rows.Scan(&id, &grid, &intervalMs, &got); err != nil {
			return err
		}
		// A check with regions has a result per region and tick.
		want := gridPoints(grid, time.Duration(intervalMs)*time.Millisecond, from, to) * int64(max(len(regions), 1))
		rep.ExpectedTicks += want
		rep.RecordedTicks += got
		if got < want {
			rep.MissingTicks += want - got
		} else {
			rep.OffGridTicks += got - want
		}
	}
	return rows.Err()
}

// explainQueries times the history and uptime queries of one check into
// rep, as the API runs them.
func explainQueries(ctx context.Context, pool *pgxpool.Pool, rep *report) error {
	var someID string
	if err := pool.QueryRow(ctx, `SELECT id FROM services ORDER BY id LIMIT 1`).Scan(&someID); err != nil {
		return err
	}
	for _, q := range []struct{ name, sql string }{
		{"results", `SELECT scheduled_at, checked_at, success, latency_us, http_status, error FROM check_results
			WHERE check_id = $1 ORDER BY scheduled_at DESC LIMIT 101`},
		{"uptime_24h", `SELECT count(*), count(*) FILTER (WHERE NOT success) FROM check_results
			WHERE check_id = $1 AND scheduled_at >= now() - interval '24 hours' AND scheduled_at < now()`},
	} {
		plan, ms, err := explain(ctx, pool, q.sql, someID)
		if err != nil {
			return fmt.Errorf("explain %s: %w", q.name, err)
		}
		if rep.QueryMs == nil {
			rep.QueryMs, rep.QueryPlans = map[string]float64{}, map[string]string{}
		}
		rep.QueryMs[q.name], rep.QueryPlans[q.name] = ms, plan
	}
	return nil
}

func mustParam(conn, schema string) string {
	u, err := withParam(conn, "search_path", schema)
	if err != nil {
		panic(err)
	}
	return u
}

// gridPoints counts g + k*i (k whole) in [from, to).
func gridPoints(g time.Time, i time.Duration, from, to time.Time) int64 {
	ceil := func(t time.Time) int64 {
		d := t.Sub(g)
		k := int64(d / i)
		if d > 0 && d%i != 0 {
			k++
		}
		return k
	}
	return ceil(to) - ceil(from)
}

func printReport(r report) {
	keys := make([]string, 0, len(r.PostgresSettings))
	for k := range r.PostgresSettings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	settings := make([]string, len(keys))
	for i, k := range keys {
		settings[i] = k + "=" + r.PostgresSettings[k]
	}
	fmt.Printf("\npostgres: %s; checkpoints in the window: %d\n", strings.Join(settings, " "), r.Checkpoints)
	if len(r.Regions) > 0 {
		fmt.Printf("\nregions: %s (a result per region and tick; expected and recorded count results)\n", strings.Join(r.Regions, ","))
	}
	printChurn(r.Churn)
	printRecovery(r.Recovery)
	fmt.Printf("\n| checks | interval | due/s | achieved/s | expected | recorded | missing | lag p50 | lag p99 | lag max | CPU s/1000 probes |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %gs | %.0f | %.0f | %d | %d | %d | %.1f ms | %.1f ms | %.1f ms | %.3f |\n\n",
		r.Checks, r.IntervalSeconds, r.DueRate, r.AchievedRate, r.ExpectedTicks, r.RecordedTicks, r.MissingTicks,
		r.LagP50ms, r.LagP99ms, r.LagMaxms, r.CPUPer1000)
	names := make([]string, 0, len(r.CPUSeconds))
	for n := range r.CPUSeconds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Println("| process | CPU s | CPU s/1000 probes | RSS MiB |")
	fmt.Println("|---|---|---|---|")
	for _, n := range names {
		fmt.Printf("| %s | %.1f | %.3f | %.0f |\n", n, r.CPUSeconds[n], r.CPUPer1000ByProc[n], r.RSSMiB[n])
	}
	if len(r.MissedByReason) > 0 {
		reasons := make([]string, 0, len(r.MissedByReason))
		for k := range r.MissedByReason {
			reasons = append(reasons, fmt.Sprintf("%s %.0f", k, r.MissedByReason[k]))
		}
		sort.Strings(reasons)
		fmt.Printf("\nticks counted as missed by the processes (vigil_ticks_missed_total): %s\n", strings.Join(reasons, ", "))
	}
	fmt.Printf("\noff-grid ticks: %d; results table: %.0f MiB per million results\n", r.OffGridTicks, r.ResultBytesPerMil/(1<<20))
	for name, plan := range r.QueryPlans {
		fmt.Printf("\n%s query of one check: %.2f ms\n%s\n", name, r.QueryMs[name], plan)
	}
}
