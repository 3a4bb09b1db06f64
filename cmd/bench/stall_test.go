package main

import (
	"strings"
	"testing"
	"time"
)

func TestGapTally_CountsOnlyGapsOverAMillisecond(t *testing.T) {
	var g gapTally
	ms := time.Millisecond
	for _, now := range []time.Duration{ms / 2, ms, 2 * ms, 2*ms + ms/2, 9 * ms, 9*ms + 1, 12 * ms} {
		g.add(now)
	}
	// Gaps: 0.5, 0.5, 1 (not over), 0.5, 6.5 (over 5), ~0, 3.
	if g.n != 2 || g.over5 != 1 || g.stall != 6*ms+ms/2+3*ms-1 || g.longest != 6*ms+ms/2 {
		t.Fatalf("n %d over5 %d stall %v longest %v", g.n, g.over5, g.stall, g.longest)
	}
}

func TestHostStalls_SpinsForItsDuration(t *testing.T) {
	t0 := time.Now()
	s := hostStalls(50 * time.Millisecond)
	if el := time.Since(t0); el < 50*time.Millisecond {
		t.Fatalf("returned after %v of a 50 ms spin", el)
	}
	if s.frac < 0 || s.frac > 1 || s.max < 0 || (s.n == 0) != (s.max == 0) {
		t.Fatalf("impossible tally %+v", s)
	}
	if !strings.Contains(s.String(), "spinning 50ms") {
		t.Fatalf("description %q", s)
	}
}
