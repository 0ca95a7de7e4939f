// Package histogram is the latency histogram hourly rollups keep: fixed,
// log-spaced buckets, so that histograms of any hours add up by bucket and
// a p95 read from the sum is within one bucket's width (20%) of the true
// value. It is pure: no I/O, no Vigil imports. The bounds are part of the
// stored format - PostgreSQL buckets with the same list
// (vigil_latency_bounds() in migration 0003) - so they never change in
// place.
package histogram

import (
	"math"
	"sort"
	"time"
)

// Bounds are the buckets' upper bounds in microseconds: 100 µs growing by
// a factor of 1.2 (rounded) up to 60 s. Bucket 0 holds latencies below
// Bounds[0], bucket i holds [Bounds[i-1], Bounds[i]), and bucket
// len(Bounds) everything from Bounds[len-1] up: PostgreSQL's width_bucket
// numbering.
var Bounds = []int64{
	100, 120, 144, 173, 207, 249, 299, 358, 430, 516, 619, 743, 892, 1070, 1284, 1541, 1849,
	2219, 2662, 3195, 3834, 4601, 5521, 6625, 7950, 9540, 11448, 13737, 16484, 19781, 23738,
	28485, 34182, 41019, 49222, 59067, 70880, 85056, 102067, 122481, 146977, 176373, 211647,
	253977, 304772, 365726, 438871, 526646, 631975, 758370, 910044, 1092053, 1310463, 1572556,
	1887067, 2264480, 2717376, 3260852, 3913022, 4695626, 5634751, 6761702, 8114042, 9736850,
	11684221, 14021065, 16825278, 20190333, 24228400, 29074080, 34888896, 41866675, 50240010,
	60288012,
}

// Bucket returns the bucket of a latency in microseconds.
func Bucket(us int64) int {
	return sort.Search(len(Bounds), func(i int) bool { return Bounds[i] > us })
}

// Summary aggregates results: counts, latency sum, min and max, and the
// histogram (bucket -> count). The zero value is empty and ready to Add to.
type Summary struct {
	Checks, Failures int64
	SumUs            int64
	MinUs, MaxUs     int64
	Hist             map[int]int64
}

// Observe adds one result.
func (s *Summary) Observe(success bool, us int64) {
	f := int64(0)
	if !success {
		f = 1
	}
	s.Add(Summary{Checks: 1, Failures: f, SumUs: us, MinUs: us, MaxUs: us, Hist: map[int]int64{Bucket(us): 1}})
}

// Add merges o into s.
func (s *Summary) Add(o Summary) {
	if o.Checks == 0 {
		return
	}
	if s.Checks == 0 || o.MinUs < s.MinUs {
		s.MinUs = o.MinUs
	}
	if s.Checks == 0 || o.MaxUs > s.MaxUs {
		s.MaxUs = o.MaxUs
	}
	s.Checks += o.Checks
	s.Failures += o.Failures
	s.SumUs += o.SumUs
	if s.Hist == nil {
		s.Hist = make(map[int]int64, len(o.Hist))
	}
	for b, n := range o.Hist {
		s.Hist[b] += n
	}
}

// Avg is the mean latency; zero when empty.
func (s *Summary) Avg() time.Duration {
	if s.Checks == 0 {
		return 0
	}
	return time.Duration(s.SumUs/s.Checks) * time.Microsecond
}

// Max is the largest latency; zero when empty.
func (s *Summary) Max() time.Duration { return time.Duration(s.MaxUs) * time.Microsecond }

// P95 is the 95th percentile as the histogram knows it: the upper bound of
// the bucket holding the 95th-percentile result, kept within [min, max]
// (so one result, or results all in one bucket, give exact figures at the
// ends). Zero when empty.
func (s *Summary) P95() time.Duration {
	if s.Checks == 0 {
		return 0
	}
	rank := int64(math.Ceil(0.95 * float64(s.Checks)))
	buckets := make([]int, 0, len(s.Hist))
	for b := range s.Hist {
		buckets = append(buckets, b)
	}
	sort.Ints(buckets)
	est := s.MaxUs
	var seen int64
	for _, b := range buckets {
		seen += s.Hist[b]
		if seen >= rank {
			if b < len(Bounds) {
				est = Bounds[b]
			}
			break
		}
	}
	est = min(max(est, s.MinUs), s.MaxUs)
	return time.Duration(est) * time.Microsecond
}
