// Package backoff spaces out the retries of every loop in Vigil that waits
// for something to come back: a broker connection, a database, a failing
// dispatch, a lost subscription. There is one policy so that all of them
// behave alike under an outage: exponential, capped, and jittered.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff yields the delays between attempts: doubling from Min to Max,
// each drawn uniformly from [d/2, d], so that replicas cut off by the same
// restart do not all come back in the same instant. The zero value is not
// usable; set Min and Max (Max below Min counts as Min).
type Backoff struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns the delay before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	limit := max(b.Max, b.Min)
	d := b.Min
	for i := 0; i < b.attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	b.attempt++
	half := d / 2
	return half + rand.N(d-half+1)
}

// Reset starts the doubling over, after an attempt that succeeded.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempts says how many delays Next has handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Sleep waits d or until ctx ends, and then returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
