package store

import (
	"context"
	"time"

	"github.com/vigil-dev/vigil/internal/backoff"
)

// DefaultMaintenanceDuty is the share of a maintenance pass's wall time
// spent in its rollup and pruning statements; after each chunk the pass
// pauses for the rest. Rolling up an hour of 50,000 checks at 10 s reads
// 18 million results: done in one burst it took the CPU the probes needed
// on a busy machine, and every check's results came seconds late
// (docs/benchmarks.md, "History churn"). Paced to a quarter, the same work
// is spread over about four times as long: minutes, well within the hour
// before the next one, while the pipeline keeps the rest.
const DefaultMaintenanceDuty = 0.25

// maxPause bounds one pause, so that a chunk that was slow for a reason
// of its own (a lock wait, a checkpoint) does not stall the pass for long.
const maxPause = 30 * time.Second

// pacer spreads a pass's chunks so that the time spent in them stays
// about duty of the wall time.
type pacer struct {
	duty  float64
	sleep func(ctx context.Context, d time.Duration) error
}

func newPacer(duty float64) pacer {
	return pacer{duty: duty, sleep: backoff.Sleep}
}

// pauseFor is how long to pause after a chunk that took worked: so that
// worked is duty of worked plus the pause; none at duty 1 or more.
func (p pacer) pauseFor(worked time.Duration) time.Duration {
	if p.duty <= 0 || p.duty >= 1 || worked <= 0 {
		return 0
	}
	return min(time.Duration(float64(worked)*(1-p.duty)/p.duty), maxPause)
}

// after pauses after a chunk that began at began, and returns ctx's error
// if it ended meanwhile.
func (p pacer) after(ctx context.Context, began time.Time) error {
	d := p.pauseFor(time.Since(began))
	if d <= 0 {
		return ctx.Err()
	}
	return p.sleep(ctx, d)
}
