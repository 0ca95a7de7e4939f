package notify

import (
	"time"

	"github.com/vigil-dev/vigil/internal/backoff"
	"github.com/vigil-dev/vigil/internal/check"
)

// RetryPolicy spaces out the attempts of one delivery: exponential from
// Min to Max with jitter (internal/backoff's rule), for at most MaxAge
// from the delivery's creation, after which it is failed.
type RetryPolicy struct {
	Min, Max, MaxAge time.Duration
}

// DefaultRetry retries after about 5 s, 10 s, 20 s … up to an hour
// apart, for a day.
var DefaultRetry = RetryPolicy{Min: 5 * time.Second, Max: time.Hour, MaxAge: 24 * time.Hour}

// Outcome turns attempt number attempts (1 for the first) of d, made at
// now, into what is written back.
func (p RetryPolicy) Outcome(d Delivery, attempts int, a Attempt, now time.Time) Outcome {
	if a.Err == nil {
		return Outcome{State: StateDelivered, StatusCode: a.StatusCode, DeliveredAt: now}
	}
	o := Outcome{State: StatePending, StatusCode: a.StatusCode, Error: check.CleanError(a.Err.Error())}
	b := backoff.Backoff{Min: p.Min, Max: p.Max}
	var wait time.Duration
	for range max(attempts, 1) {
		wait = b.Next()
	}
	o.NextAttempt = now.Add(wait)
	if o.NextAttempt.Sub(d.CreatedAt) > p.MaxAge {
		o.State = StateFailed
		o.NextAttempt = time.Time{}
	}
	return o
}
