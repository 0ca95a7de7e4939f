package app_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-dev/vigil/internal/app"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/queue"
)

// targetAt is an always-healthy HTTP server on addr (a loopback address
// of its own, so that a worker's deny list can cut it off alone).
func targetAt(t *testing.T, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// startRegionWorkers runs one worker per region of deny, each with the
// region's deny list (the networks cut off from it), until the test ends.
func startRegionWorkers(t *testing.T, cfg config.Config, log *zap.Logger, deny map[string]string) {
	t.Helper()
	for region, networks := range deny {
		wcfg := cfg
		wcfg.Migrate = false
		wcfg.Region = region
		wcfg.DenyNetworks = networks
		wcfg.MetricsAddr = "127.0.0.1:0"
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- app.RunWorker(ctx, wcfg, log.Named(region), app.Hooks{}) }()
		t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	}
}

type regionResults struct {
	Items []struct {
		Region      string    `json:"region"`
		Status      string    `json:"status"`
		ScheduledAt time.Time `json:"scheduled_at"`
	} `json:"items"`
}

type regionTransitions struct {
	Items []struct {
		From    string            `json:"from"`
		To      string            `json:"to"`
		Regions map[string]string `json:"regions"`
	} `json:"items"`
}

// TestQuorumAcrossRegions runs a server and three worker processes in
// three regions (eu, us, ap). The eu workers cannot reach 127.0.0.2 and
// neither eu nor us can reach 127.0.0.3 (their deny lists), as if their
// network to those targets were down. With quorum 2, the target cut off
// from one region stays UP, and the one cut off from two goes DOWN.
func TestQuorumAcrossRegions(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	sys := start(t, cfg, log) // its worker is the default region's
	startRegionWorkers(t, cfg, log, map[string]string{"eu": "127.0.0.2/32,127.0.0.3/32", "us": "127.0.0.3/32", "ap": ""})
	oneCut, twoCut := targetAt(t, "127.0.0.2"), targetAt(t, "127.0.0.3")

	create := func(name, url string) string {
		var sv struct {
			ID      string   `json:"id"`
			Regions []string `json:"regions"`
			Quorum  int      `json:"quorum"`
		}
		require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
			"name": name, "url": url, "interval_seconds": 1, "timeout_seconds": 0.5,
			"regions": []string{"eu", "us", "ap"},
		}, &sv))
		require.Equal(t, 2, sv.Quorum)
		return sv.ID
	}
	one, two := create("cut-off-from-one", oneCut), create("cut-off-from-two", twoCut)

	status := func(id string) string {
		var sv service
		call(t, "GET", sys.api+"/api/v1/services/"+id, nil, &sv)
		return sv.Status
	}
	require.Eventually(t, func() bool { return status(two) == "DOWN" }, 15*time.Second, 100*time.Millisecond)
	var tr regionTransitions
	call(t, "GET", sys.api+"/api/v1/services/"+two+"/transitions", nil, &tr)
	var down map[string]string
	for _, it := range tr.Items {
		if it.To == "DOWN" {
			down = it.Regions
		}
	}
	require.Equal(t, "DOWN", down["eu"], "%+v", tr.Items)
	require.Equal(t, "DOWN", down["us"], "%+v", tr.Items)

	// The check cut off from one region: every region reports, eu DOWN,
	// and the check is UP and never was anything else.
	require.Eventually(t, func() bool {
		var res regionResults
		call(t, "GET", sys.api+"/api/v1/services/"+one+"/results?limit=1000", nil, &res)
		seen := map[string]string{}
		for _, r := range res.Items {
			seen[r.Region] = r.Status
		}
		return seen["eu"] == "DOWN" && seen["us"] == "UP" && seen["ap"] == "UP"
	}, 10*time.Second, 100*time.Millisecond)
	time.Sleep(2 * time.Second) // a few more ticks of eu's DOWN results
	require.Equal(t, "UP", status(one))
	call(t, "GET", sys.api+"/api/v1/services/"+one+"/transitions", nil, &tr)
	for _, it := range tr.Items {
		require.NotEqual(t, "DOWN", it.To, "one region alone never takes the check DOWN: %+v", tr.Items)
	}
}

// TestRegionWithoutWorkers lists three regions on a check with quorum 2
// but runs workers in two of them: ap has none. The target is cut off from
// eu, so eu says DOWN, us says UP and ap says nothing. ap counts as
// UNKNOWN, never as DOWN, so the check stays UP (were ap counted DOWN, two
// of three would page). ap's queue holds no more than about one interval
// of jobs, since they expire unconsumed; and once ap is removed from the
// check no job goes to it any more.
func TestRegionWithoutWorkers(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	sys := start(t, cfg, log)
	startRegionWorkers(t, cfg, log, map[string]string{"eu": "127.0.0.4/32", "us": ""})
	url := targetAt(t, "127.0.0.4")

	var sv struct {
		ID string `json:"id"`
	}
	require.Equal(t, http.StatusCreated, call(t, "POST", sys.api+"/api/v1/services", map[string]any{
		"name": "ap-has-no-workers", "url": url, "interval_seconds": 1, "timeout_seconds": 0.5,
		"regions": []string{"eu", "us", "ap"}, "quorum": 2,
	}, &sv))

	ctx := context.Background()
	qcfg := queue.Config{URL: cfg.AMQPURL, Logger: log, JobQueue: queue.DefaultJobQueue}
	pub, err := queue.NewPublisher(ctx, qcfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	apDepth := func() int {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		n, err := pub.QueueDepth(dctx, qcfg.JobQueueFor("ap"))
		require.NoError(t, err)
		return n
	}

	// eu's DOWN and us's UP results arrive; the check is UP with ap
	// UNKNOWN in the vote, and stays UP.
	require.Eventually(t, func() bool {
		var res regionResults
		call(t, "GET", sys.api+"/api/v1/services/"+sv.ID+"/results?limit=100", nil, &res)
		seen := map[string]string{}
		for _, r := range res.Items {
			seen[r.Region] = r.Status
		}
		_, apProbed := seen["ap"]
		require.False(t, apProbed, "no worker of ap probed it")
		return seen["eu"] == "DOWN" && seen["us"] == "UP"
	}, 15*time.Second, 100*time.Millisecond)

	// Over five intervals: ap's jobs are published (its queue is seen
	// holding some) but expire, one interval each, instead of piling up.
	maxDepth, sawJobs := 0, false
	for began := time.Now(); time.Since(began) < 5*time.Second; time.Sleep(100 * time.Millisecond) { // sampling
		d := apDepth()
		maxDepth, sawJobs = max(maxDepth, d), sawJobs || d > 0
	}
	require.True(t, sawJobs, "ap's jobs are published to its queue")
	// A tick is one message per region; a second for the next tick's
	// publish before the first expires, one more for a loaded machine.
	require.LessOrEqual(t, maxDepth, 3, "jobs nobody takes expire after one interval")

	var got service
	call(t, "GET", sys.api+"/api/v1/services/"+sv.ID, nil, &got)
	require.Equal(t, "UP", got.Status, "an UNKNOWN region never counts toward DOWN")
	var tr regionTransitions
	call(t, "GET", sys.api+"/api/v1/services/"+sv.ID+"/transitions", nil, &tr)
	require.NotEmpty(t, tr.Items)
	for _, it := range tr.Items {
		require.NotEqual(t, "DOWN", it.To, "%+v", tr.Items)
		require.Equal(t, "UNKNOWN", it.Regions["ap"], "ap is counted UNKNOWN: %+v", tr.Items)
	}

	// Removing ap from the check stops its jobs: its queue drains by
	// expiry and stays empty.
	require.Equal(t, http.StatusOK, call(t, "PATCH", sys.api+"/api/v1/services/"+sv.ID, map[string]any{
		"regions": []string{"eu", "us"}, "quorum": 1,
	}, nil))
	require.Eventually(t, func() bool { return apDepth() == 0 }, 10*time.Second, 100*time.Millisecond)
	for began := time.Now(); time.Since(began) < 3*time.Second; time.Sleep(100 * time.Millisecond) { // sampling
		require.Zero(t, apDepth(), "no job goes to a region the check no longer lists")
	}
}
