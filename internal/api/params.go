package api

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
)

// Query parameter limits of the REST contract.
const (
	DefaultLimit  = 100
	MaxLimit      = 1000
	DefaultWindow = 24 * time.Hour
	MaxWindow     = 366 * 24 * time.Hour
	// DefaultResultsRetention is the store's default results retention
	// (VIGIL_RESULTS_RETENTION): the longest window of one region's
	// uptime when Config.ResultsRetention is not set.
	DefaultResultsRetention = 30 * 24 * time.Hour
)

// queryParamError is a bad query parameter; it becomes a 400 naming the parameter.
type queryParamError struct{ name, message string }

func (e *queryParamError) Error() string { return e.name + ": " + e.message }

func parseLimit(q url.Values) (int, error) {
	raw := q.Get("limit")
	if raw == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, &queryParamError{"limit", fmt.Sprintf("must be an integer from 1 to %d", MaxLimit)}
	}
	return n, nil
}

// parseTime reads an RFC 3339 timestamp; absent is the zero time, which
// the registry treats as unbounded.
func parseTime(q url.Values, name string) (time.Time, error) {
	raw := q.Get(name)
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, &queryParamError{name, "must be an RFC 3339 timestamp such as 2025-01-02T15:04:05Z"}
	}
	return t.UTC(), nil
}

// parseRegion reads ?region=, a region name as checks list them; absent
// is "", every region. A well-formed name a check does not list is no
// error: its history (a region taken off the check) stays readable, and
// otherwise the answer is simply empty.
func parseRegion(q url.Values) (string, error) {
	raw := q.Get("region")
	if raw == "" || check.IsRegionName(raw) {
		return raw, nil
	}
	return "", &queryParamError{"region", fmt.Sprintf("must be a region name: a lowercase DNS label (a-z, 0-9 and '-', starting and ending with a letter or digit, at most %d characters)", check.MaxRegionLength)}
}

// checkRegionWindow refuses a window of one region's uptime longer than
// the results retention: rollups are per check, not per region, so only
// raw results can answer it, and older ones are gone.
func checkRegionWindow(region string, window, retention time.Duration) error {
	if region == "" || window <= retention {
		return nil
	}
	return &queryParamError{"region", fmt.Sprintf("one region's uptime is counted from raw results, which are kept for %s (the results retention); ask for a window of at most %s, or leave region out for the check's uptime over every region",
		spellWindow(retention), spellWindow(retention))}
}

// spellWindow is d in days when it is whole days, else as formatWindow.
func spellWindow(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return formatWindow(d)
}

func parseStatus(q url.Values) (check.State, error) {
	raw := q.Get("status")
	if raw == "" {
		return "", nil
	}
	st, ok := check.ParseState(strings.ToUpper(raw))
	if !ok {
		return "", &queryParamError{"status", "must be one of UP, DOWN, UNKNOWN, PAUSED"}
	}
	return st, nil
}

// parseWindow reads an uptime window: a Go duration ("90m", "24h") or a
// number of days ("7d"), positive and at most maxWindow (the rollup
// retention). It also returns the window's normalised spelling for the
// response. An absent window is def.
func parseWindow(raw string, def, maxWindow time.Duration) (time.Duration, string, error) {
	if raw == "" {
		if def%(24*time.Hour) == 0 && def > 24*time.Hour {
			return def, strconv.Itoa(int(def/(24*time.Hour))) + "d", nil
		}
		return def, formatWindow(def), nil
	}
	maxDays := int(maxWindow / (24 * time.Hour))
	bad := &queryParamError{"window", fmt.Sprintf(`must be a positive duration such as "1h", "24h" or "7d", at most %dd`, maxDays)}
	if days, ok := strings.CutSuffix(raw, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > maxDays || strings.HasPrefix(days, "+") {
			return 0, "", bad
		}
		return time.Duration(n) * 24 * time.Hour, strconv.Itoa(n) + "d", nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 || d > maxWindow {
		return 0, "", bad
	}
	return d, formatWindow(d), nil
}

// formatWindow spells d the way a person would: "24h", not "24h0m0s".
func formatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
