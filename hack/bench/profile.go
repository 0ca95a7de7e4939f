package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
)

// A profile run (-profile DIR) answers the question the CPU figures raise:
// where does a probe's cost go? Each vigil process serves its profiler on
// a loopback port of its own; a while into the window the harness takes a
// CPU profile of every process at once, and of itself (the target server),
// for the same seconds. PostgreSQL cannot be profiled from Go, so where
// pg_stat_statements is loaded the harness resets it as the window starts
// and writes its heaviest statements when it ends.

// profileWindow is when, after the window starts, the profiles begin and
// how long they last: past the first seconds, which may still carry the
// warm-up's backlog, and well inside the window.
func profileWindow(window time.Duration) (after, length time.Duration) {
	after = min(10*time.Second, window/4)
	length = min(30*time.Second, window/2)
	return after, max(length, time.Second)
}

// startProfiles starts a -profile run's profiles as the window starts and
// returns what, called as it ends, writes the statements and waits for
// the profiles. Without -profile it does nothing.
func startProfiles(ctx context.Context, o options, admin *pgx.Conn, procs []*proc) (finish func(), err error) {
	if o.profileDir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return nil, err
	}
	writeStatements := statementStats(ctx, admin, o.profileDir)
	profiled := make(chan struct{})
	go func() { defer close(profiled); profileProcs(ctx, o.profileDir, procs, o.duration) }()
	return func() { writeStatements(); <-profiled }, nil
}

// profileEnv turns a process's profiler on at addr.
func profileEnv(addr string) []string {
	return []string{"VIGIL_PPROF=true", "VIGIL_PPROF_ADDR=" + addr}
}

// profileProcs takes the profiles of one window and returns when they are
// written (or ctx ends). Failures are reported, not fatal: the figures of
// the run stand without the profiles.
func profileProcs(ctx context.Context, dir string, procs []*proc, window time.Duration) {
	after, length := profileWindow(window)
	if err := sleep(ctx, after); err != nil {
		return
	}
	secs := int(length / time.Second)
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.pprofAddr == "" {
			continue
		}
		wg.Go(func() {
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprofAddr, secs)
			if err := fetchTo(ctx, url, filepath.Join(dir, p.name+".cpu.pprof"), length+30*time.Second); err != nil {
				fmt.Fprintf(os.Stderr, "bench: profile %s: %v\n", p.name, err)
			}
		})
	}
	wg.Go(func() {
		if err := profileSelf(ctx, filepath.Join(dir, "harness.cpu.pprof"), length); err != nil {
			fmt.Fprintf(os.Stderr, "bench: profile harness: %v\n", err)
		}
	})
	wg.Wait()
	fmt.Printf("profiles of %ds from +%s written to %s\n", secs, after, dir)
}

func fetchTo(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// profileSelf profiles this process (the target server and the measuring)
// for d.
func profileSelf(ctx context.Context, path string, d time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return err
	}
	_ = sleep(ctx, d)
	pprof.StopCPUProfile()
	return f.Close()
}

// statementStats resets pg_stat_statements when it is loaded and returns
// a function that writes the statements that took the most time since
// (to dir/pg_stat_statements.txt). Without the module it says how to load
// it and returns a function that does nothing.
func statementStats(ctx context.Context, admin *pgx.Conn, dir string) (write func()) {
	noop := func() {}
	if _, err := admin.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		fmt.Fprintf(os.Stderr, "bench: no pg_stat_statements (%v); for PostgreSQL's share by statement set shared_preload_libraries = 'pg_stat_statements' and restart the server\n", err)
		return noop
	}
	if _, err := admin.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		fmt.Fprintf(os.Stderr, "bench: pg_stat_statements: %v; set shared_preload_libraries = 'pg_stat_statements' and restart the server\n", err)
		return noop
	}
	return func() {
		if err := writeStatementStats(context.WithoutCancel(ctx), admin, filepath.Join(dir, "pg_stat_statements.txt")); err != nil {
			fmt.Fprintf(os.Stderr, "bench: pg_stat_statements: %v\n", err)
		}
	}
}

func writeStatementStats(ctx context.Context, admin *pgx.Conn, path string) error {
	rows, err := admin.Query(ctx, `SELECT calls, total_exec_time, rows, shared_blks_hit + shared_blks_read, wal_bytes, query
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 30`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "calls\ttotal ms\tms/call\trows\tblocks\tWAL bytes\tquery")
	for rows.Next() {
		var (
			calls, nrows, blocks int64
			total                float64
			wal                  float64
			query                string
		)
		if err := rows.Scan(&calls, &total, &nrows, &blocks, &wal, &query); err != nil {
			return err
		}
		q := strings.Join(strings.Fields(query), " ")
		if len(q) > 160 {
			q = q[:160] + "…"
		}
		fmt.Fprintf(w, "%d\t%.0f\t%.3f\t%d\t%d\t%.0f\t%s\n", calls, total, total/float64(max(calls, 1)), nrows, blocks, wal, q)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
