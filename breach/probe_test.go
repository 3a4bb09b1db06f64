package breach

import (
	"math/rand/v2"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

// Every probe variant answers exactly as bloom/v3's Test on the same
// words, for members and non-members, at several m and k.
func TestProbe_SameAsBloomTest(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	key := func() (k [20]byte) {
		for i := range k {
			k[i] = byte(r.Uint32())
		}
		return k
	}
	for _, tc := range []struct {
		n   uint
		fpr float64
	}{{1, 0.5}, {100, 0.01}, {5000, 0.001}, {20000, 0.3}, {3000, 1e-9}} {
		bf := bloom.NewWithEstimates(tc.n, tc.fpr)
		members := make([][20]byte, tc.n)
		for i := range members {
			members[i] = key()
			bf.Add(members[i][:])
		}
		p := newProbe(bf.BitSet().Words(), uint64(bf.Cap()), uint64(bf.K()))
		for _, v := range probeVariants {
			for _, m := range members {
				if !v.fn(&p, &m) {
					t.Fatalf("%s m=%d k=%d: member not found", v.name, bf.Cap(), bf.K())
				}
			}
			hits := 0
			for range 20000 {
				k := key()
				got, want := v.fn(&p, &k), bf.Test(k[:])
				if got != want {
					t.Fatalf("%s m=%d k=%d: probe %v, bloom %v", v.name, bf.Cap(), bf.K(), got, want)
				}
				if got {
					hits++
				}
			}
			if hits == 20000 && tc.fpr < 0.5 {
				t.Fatalf("%s m=%d k=%d: every random key hit", v.name, bf.Cap(), bf.K())
			}
		}
	}
}
