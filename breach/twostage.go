package breach

import (
	"fmt"
	"sync/atomic"
)

// twoStage confirms filter hits against an exact store: the filter answers
// most passwords (not breached) from memory in well under a microsecond,
// and only its hits, real or false positive, cost an exact lookup.
type twoStage struct {
	exact    *Exact // nil: the filter's answer is final
	minCount uint64

	bloomHits, confirmed, falsePositives, belowMin atomic.Uint64
}

// ExactStats counts what the exact store decided since the Checker started.
type ExactStats struct {
	// Enabled is set when the Checker has an exact store.
	Enabled bool
	// BloomHits are lookups the filter said were (probably) breached.
	BloomHits uint64
	// Confirmed are the hits found in the exact store at or above MinCount.
	Confirmed uint64
	// FalsePositives are the hits absent from the exact store: passwords
	// the filter alone would have refused wrongly.
	FalsePositives uint64
	// BelowMinCount are the hits found in the exact store less often than
	// MinCount, and therefore accepted.
	BelowMinCount uint64
}

// contains reports whether the digest is breached: in the filter and, with
// an exact store, in it at least minCount times.
func (t *twoStage) contains(f *Filter, sum [20]byte) (bool, error) {
	if !f.ContainsSHA1(sum) {
		return false, nil
	}
	if t.exact == nil {
		return true, nil
	}
	t.bloomHits.Add(1)
	n, err := t.exact.Count(sum)
	if err != nil {
		return false, fmt.Errorf("breach: confirm: %w", err)
	}
	switch {
	case n == 0:
		t.falsePositives.Add(1)
		return false, nil
	case n < t.minCount:
		t.belowMin.Add(1)
		return false, nil
	}
	t.confirmed.Add(1)
	return true, nil
}

// ExactStats returns the counts of the two-stage check.
func (c *Checker) ExactStats() ExactStats {
	t := &c.two
	return ExactStats{
		Enabled:        t.exact != nil,
		BloomHits:      t.bloomHits.Load(),
		Confirmed:      t.confirmed.Load(),
		FalsePositives: t.falsePositives.Load(),
		BelowMinCount:  t.belowMin.Load(),
	}
}

// Exact returns the exact store the Checker confirms hits with, nil if none.
// It stays open until the Checker is closed.
func (c *Checker) Exact() *Exact { return c.two.exact }
