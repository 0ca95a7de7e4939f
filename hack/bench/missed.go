package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// missedTicks is vigil_ticks_missed_total by reason, summed over the run's
// processes: the ticks the system itself counted as not probed (shed by
// admission control, skipped stale or queued by a worker, passed over by a
// scheduler that was behind). Its difference across the window is what the
// report compares with the ticks that have no result.
type missedTicks map[string]float64

// scrapeMissed reads every process's counter; a process that does not
// answer is left out (the report says so by the sum not adding up).
func scrapeMissed(ctx context.Context, procs []*proc) missedTicks {
	out := missedTicks{}
	for _, p := range procs {
		if p.metricsURL == "" {
			continue
		}
		addMissed(ctx, p.metricsURL, out)
	}
	return out
}

func addMissed(ctx context.Context, url string, into missedTicks) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer func() { _ = resp.Body.Close() }()
	parseMissed(bufio.NewScanner(resp.Body), into)
}

// parseMissed adds the vigil_ticks_missed_total samples of a Prometheus
// text exposition to into, by their reason label.
func parseMissed(sc *bufio.Scanner, into missedTicks) {
	const name = `vigil_ticks_missed_total{`
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		reason := "unknown"
		for l := range strings.SplitSeq(labels, ",") {
			if r, ok := strings.CutPrefix(l, `reason="`); ok {
				reason = strings.TrimSuffix(r, `"`)
			}
		}
		into[reason] += v
	}
}

// since is m less before, by reason.
func (m missedTicks) since(before missedTicks) map[string]float64 {
	out := map[string]float64{}
	for r, v := range m {
		if d := v - before[r]; d != 0 {
			out[r] = d
		}
	}
	return out
}
