package loadgen

import (
	"math/bits"
	"time"
)

// A latency histogram with 128 linear sub-buckets per power of two: every
// recorded value lands in a bucket less than 0.8% wide relative to it, and
// recording is an index computation and an add, with no allocation, so it
// can sit on the per-request path. Quantiles are reported as the bucket's
// upper bound (clipped to the exact maximum), so they never understate.
const (
	subBits    = 7
	subBuckets = 1 << subBits
	nBuckets   = subBuckets + (64-subBits)*subBuckets
)

// Hist is a latency histogram. The zero value is empty and ready to use.
type Hist struct {
	counts   [nBuckets]uint64
	n        uint64
	min, max time.Duration
	sum      time.Duration
}

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [128, 255]
	return subBuckets + e*subBuckets + int(v>>uint(e)) - subBuckets
}

// upper returns the largest value that lands in bucket i.
func upper(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	e := (i - subBuckets) / subBuckets
	m := uint64((i-subBuckets)%subBuckets + subBuckets)
	return (m+1)<<uint(e) - 1
}

// Record adds one latency; a negative one counts as zero.
func (h *Hist) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Count is the number of recorded latencies.
func (h *Hist) Count() uint64 { return h.n }

// Min and Max are exact.
func (h *Hist) Min() time.Duration { return h.min }
func (h *Hist) Max() time.Duration { return h.max }

// Mean is the exact mean.
func (h *Hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (nearest rank), at most 0.8% above the
// true value and never below it; 0 when empty.
func (h *Hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.9999999)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(upper(i)), h.max)
		}
	}
	return h.max
}

// Merge adds o's latencies to h.
func (h *Hist) Merge(o *Hist) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}
