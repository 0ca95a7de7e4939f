// Command vigil is Vigil's one binary. Its subcommands are the processes
// of a deployment: server (REST, WebSocket, dashboard, scheduler), worker
// (probes), operator (Kubernetes mode) and migrate, plus healthcheck for
// container health probes in images without a shell.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/logging"
)

// version and revision are set at build time with -ldflags
// "-X main.version=... -X main.revision=<git commit>"; vigil_build_info
// reports both.
var (
	version  = "dev"
	revision = ""
)

const usage = `vigil - distributed health monitoring

Usage:
  vigil server       REST API, WebSocket events, dashboard and scheduler (compose mode)
  vigil worker       consume probe jobs and record results
  vigil operator     Kubernetes mode: ServiceCheck controller, status writer, scheduler
  vigil migrate      apply pending database migrations and exit
  vigil healthcheck  URL: exit 0 when URL answers 2xx (for container health checks)
  vigil version      print the version

Run "vigil <command> -h" for the flags; each has an environment equivalent.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process exit, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "healthcheck":
		return healthcheck(ctx, args, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "vigil", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cfg := config.Defaults()
	cfg.Version, cfg.Revision = version, revision
	set := config.NewSet("vigil "+cmd, stderr)
	start, ok := bindProcess(cmd, &cfg, set)
	if !ok {
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	return runProcess(ctx, cmd, args, &cfg, set, start, stderr)
}

// startFunc runs one long-running subcommand until ctx ends.
type startFunc func(context.Context, config.Config, *zap.Logger) error

// bindProcess binds the flags of the process subcommand cmd and returns
// what runs it, or false when cmd names no process.
func bindProcess(cmd string, cfg *config.Config, set *config.Set) (startFunc, bool) {
	switch cmd {
	case "server":
		cfg.BindRuntime(set)
		set.String(&cfg.HTTPAddr, "http-addr", "VIGIL_HTTP_ADDR", "address of the REST API, WebSocket and dashboard")
		set.Bool(&cfg.Scheduler, "scheduler", "VIGIL_SCHEDULER", "run a scheduler in this process")
		set.Bool(&cfg.Kubernetes, "kubernetes", "VIGIL_KUBERNETES", "Kubernetes mode: the REST registry is read-only")
		cfg.BindScheduler(set)
		cfg.BindNotify(set)
		cfg.BindRegistration(set)
		cfg.BindServer(set)
		cfg.BindHistory(set)
		set.String(&cfg.MetricLabels, "metric-labels", "VIGIL_METRIC_LABELS",
			"label keys whose values vigil_check_up copies from each check's key=value tags (a ServiceCheck's labels) as label_<key>, comma-separated, at most 10")
		return func(ctx context.Context, c config.Config, l *zap.Logger) error {
			return app.RunServer(ctx, c, l, app.Hooks{})
		}, true
	case "worker":
		cfg.BindRuntime(set)
		set.Int(&cfg.Concurrency, "concurrency", "VIGIL_WORKER_CONCURRENCY", "probes run at once by this process")
		cfg.BindProbe(set)
		cfg.BindRegion(set)
		set.Int(&cfg.MaxDeliveries, "max-deliveries", "VIGIL_MAX_DELIVERIES", "deliveries of a failing job before it is dead-lettered")
		set.Duration(&cfg.MaxJobAge, "max-job-age", "VIGIL_MAX_JOB_AGE",
			"jobs later than this and than their check's interval are acked without a probe (negative: probe however late)")
		set.Duration(&cfg.MaxQueueWait, "max-queue-wait", "VIGIL_MAX_QUEUE_WAIT",
			"jobs that waited longer than this since they were published are acked without a probe (negative: probe however long they waited)")
		set.String(&cfg.MetricsAddr, "metrics-addr", "VIGIL_METRICS_ADDR", "address of /healthz, /readyz and /metrics")
		return func(ctx context.Context, c config.Config, l *zap.Logger) error {
			return app.RunWorker(ctx, c, l, app.Hooks{})
		}, true
	case "operator":
		return bindOperator(cfg, set), true
	case "migrate":
		cfg.BindCommon(set)
		return app.Migrate, true
	}
	return nil, false
}

// runProcess parses and validates the settings, builds the logger and
// runs start, turning the outcome into an exit code.
func runProcess(ctx context.Context, cmd string, args []string, cfg *config.Config, set *config.Set, start startFunc, stderr io.Writer) int {
	if err := set.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "vigil "+cmd+":", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "vigil "+cmd+":", err)
		return 2
	}
	log, err := logging.New(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "vigil "+cmd+":", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("process", cmd))
	log.Info("starting", zap.String("version", version))
	if err := start(ctx, *cfg, log); err != nil {
		log.Error("exiting on error", zap.Error(err))
		return 1
	}
	log.Info("stopped")
	return 0
}

// healthcheck GETs a URL and exits 0 on a 2xx answer: the distroless image
// has no curl, and compose health checks need a command.
func healthcheck(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: vigil healthcheck URL")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil) //nolint:gosec // G704: fetching the URL given on the command line is the command
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req) //nolint:gosec // G704: as above, the operator's own URL
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(stderr, "healthcheck:", resp.Status)
		return 1
	}
	return 0
}
