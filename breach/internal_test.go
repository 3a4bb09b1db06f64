package breach

// Internal tests for the two pieces of arithmetic the fast builder relies
// on; the external tests check the end result against bloom/v3 as well.

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

func TestModulus_MatchesRemainder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ms := []uint64{1, 2, 3, 7, 64, 205341, 1 << 40, 28755175133, 143775876, ^uint64(0), ^uint64(0) - 1, 1<<63 + 1}
	for range 200 {
		ms = append(ms, r.Uint64()>>r.UintN(64)|1)
	}
	for _, m := range ms {
		d := newModulus(m)
		xs := []uint64{0, 1, m - 1, m, m + 1, ^uint64(0), ^uint64(0) - 1}
		for range 5000 {
			xs = append(xs, r.Uint64())
		}
		for _, x := range xs {
			if got, want := d.mod(x), x%m; got != want {
				t.Fatalf("%d mod %d = %d, want %d", x, m, got, want)
			}
		}
	}
}

func TestLocations_MatchBloom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		var key [20]byte
		for i := range key {
			key[i] = byte(r.Uint32())
		}
		h := baseHashes20(&key)
		got := make([]uint64, 20)
		for i := range got {
			got[i] = location(&h, uint64(i))
		}
		if want := bloom.Locations(key[:], 20); !slices.Equal(got, want) {
			t.Fatalf("key %x: locations %v, bloom %v", key, got, want)
		}
	}
}
