package breach

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrNotPaired is returned when an exact store was not written by the same
// build as the filter it is to confirm: the filter may hold hashes the
// store lacks, and those breached passwords would pass as false positives.
var ErrNotPaired = errors.New("breach: the exact store was not built with this filter (breach build --exact writes both in one run)")

// Paired checks that e was written by the same build as f (both carry the
// build's time stamp).
func Paired(f *Filter, e *Exact) error {
	if fb, eb := f.Header().BuiltAt, e.Header().BuiltAt; !fb.Equal(eb) {
		return fmt.Errorf("%w: filter built %s, exact store %s", ErrNotPaired, fb.Format("2006-01-02T15:04:05.999999999Z"), eb.Format("2006-01-02T15:04:05.999999999Z"))
	}
	return nil
}

// twoStage confirms filter hits against an exact store: the filter answers
// most passwords (not breached) from memory in well under a microsecond,
// and only its hits, real or false positive, cost an exact lookup.
type twoStage struct {
	exact    atomic.Pointer[Exact] // nil: the filter's answer is final
	enabled  bool
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
	hit, err := f.Lookup(sum)
	if err != nil || !hit {
		return false, err
	}
	if !t.enabled {
		return true, nil
	}
	t.bloomHits.Add(1)
	var n uint64
	for {
		e := t.exact.Load()
		var err error
		n, err = e.Count(sum)
		if errors.Is(err, ErrClosed) && t.exact.Load() != e {
			continue // a reload swapped it between the load and the lookup
		}
		if err != nil {
			return false, fmt.Errorf("breach: confirm: %w", err)
		}
		break
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
		Enabled:        t.enabled,
		BloomHits:      t.bloomHits.Load(),
		Confirmed:      t.confirmed.Load(),
		FalsePositives: t.falsePositives.Load(),
		BelowMinCount:  t.belowMin.Load(),
	}
}

// Exact returns the exact store the Checker confirms hits with, nil if none.
// It stays open until the Checker is closed.
func (c *Checker) Exact() *Exact { return c.two.exact.Load() }

// reload reopens the exact store from its path for the new filter f and
// swaps it in; the old one closes after its last lookup. Only the cheap
// checks and the pairing run: a full Verify reads every byte (tens of GB
// at full size).
func (t *twoStage) reload(f *Filter) error {
	if !t.enabled {
		return nil
	}
	old := t.exact.Load()
	e, err := OpenExact(old.Path())
	if err != nil {
		return err
	}
	if err := Paired(f, e); err != nil {
		e.Close()
		return err
	}
	t.exact.Store(e)
	old.Close()
	return nil
}
