package breach

import (
	"fmt"
	"testing"
)

// The blocked sizing is the smallest filter that meets the target by the
// Poisson-mixture formula, it needs more bits than the classic sizing, and
// its inverse (blockedSizedFor, behind the report's Oversized) gives back
// at least the n it was sized for.
func TestBlockedParameters_Minimal(t *testing.T) {
	for _, c := range []struct {
		n uint64
		p float64
	}{{2_000_000_000, 0.001}, {100_000_000, 0.0001}, {1000, 0.01}, {1, 0.001}, {50_000, 0.5}} {
		t.Run(fmt.Sprintf("n=%d/p=%g", c.n, c.p), func(t *testing.T) {
			blocks, k := blockedParameters(c.n, c.p)
			if k < 1 || k > maxKBlocked || blocks < 1 {
				t.Fatalf("blocks %d k %d", blocks, k)
			}
			if got := blockedFPR(blocks, k, c.n); got > c.p {
				t.Fatalf("FPR %g at the chosen size is above %g", got, c.p)
			}
			for kk := uint64(1); kk <= maxKBlocked; kk++ {
				if blocks > 1 && blockedFPR(blocks-1, kk, c.n) <= c.p {
					t.Fatalf("%d blocks with k=%d would do", blocks-1, kk)
				}
			}
			h := Header{Version: FormatV2, M: blocks * blockBits, K: k, TargetFPR: c.p}
			if s := blockedSizedFor(h); s < c.n {
				t.Fatalf("sized for %d, built for %d", s, c.n)
			}
			if c.n >= 1000 {
				classic := expectedFPR(blocks*blockBits, k, c.n)
				if classic >= blockedFPR(blocks, k, c.n) {
					t.Fatalf("blocked FPR %g not above the classic %g at the same size", blockedFPR(blocks, k, c.n), classic)
				}
			}
			t.Logf("k=%d, %.2f bits per key", k, float64(blocks*blockBits)/float64(c.n))
		})
	}
}
