package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults of the history settings (docs/operations.md sizes them).
const (
	DefaultResultsRetention = 30 * 24 * time.Hour
	DefaultRollupRetention  = 400 * 24 * time.Hour
	// minResultsRetention is one partition: retention drops whole days.
	minResultsRetention = 24 * time.Hour
)

// BindHistory binds the retention settings of the history maintenance
// loop that server and operator both run.
func (c *Config) BindHistory(s *Set) {
	s.Retention(&c.ResultsRetention, "results-retention", "VIGIL_RESULTS_RETENTION",
		"how long raw results are kept, in whole days of partitions (e.g. 30d)")
	s.Retention(&c.RollupRetention, "rollup-retention", "VIGIL_ROLLUP_RETENTION",
		"how long hourly rollups are kept; uptime windows reach back this far (e.g. 400d)")
}

// Retention binds a duration flag that also takes whole days ("30d").
func (s *Set) Retention(p *time.Duration, name, env, usage string) {
	if v, ok := s.lookup(name, env); ok {
		d, err := ParseRetention(v)
		if err != nil {
			s.bad(name, env, v, err)
		} else {
			*p = d
		}
	}
	s.fs.Var((*retentionValue)(p), name, usage+" ($"+env+")")
}

// ParseRetention reads "30d" or a Go duration ("720h").
func ParseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*366 {
			return 0, fmt.Errorf("%q is not a number of days", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration nor a number of days: %w", v, err)
	}
	return d, nil
}

type retentionValue time.Duration

func (r *retentionValue) String() string {
	d := time.Duration(*r)
	if d%(24*time.Hour) == 0 && d > 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

func (r *retentionValue) Set(v string) error {
	d, err := ParseRetention(v)
	*r = retentionValue(d)
	return err
}

// validateHistory rejects retentions the maintenance loop cannot keep.
func (c *Config) validateHistory() error {
	switch {
	case c.ResultsRetention < minResultsRetention:
		return fmt.Errorf("VIGIL_RESULTS_RETENTION must be at least 1d (partitions are days), got %s", c.ResultsRetention)
	case c.RollupRetention < c.ResultsRetention:
		return fmt.Errorf("VIGIL_ROLLUP_RETENTION must be at least VIGIL_RESULTS_RETENTION (%s), got %s", c.ResultsRetention, c.RollupRetention)
	}
	return nil
}
