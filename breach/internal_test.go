package breach

// Internal tests for the two pieces of arithmetic the fast builder relies
// on; the external tests check the end result against bloom/v3 as well.

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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

// TestGuard_RecoversFromSIGBUS: the stamp and header checks see a
// truncation, so this hides it from them (as a truncation landing between
// the check and the read would be) to prove the read itself cannot kill
// the process.
func TestGuard_RecoversFromSIGBUS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.bloom")
	if _, err := Build(context.Background(), BuildOptions{Inputs: []string{writeHIBP(t, "a-password-1")}, Out: path, FPR: 0.0001}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Hide the truncation from the lease and from the stamp and header
	// checks; the read faults.
	f.releaseLease()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	f.fh = nil
	_, err = f.Lookup(sha1.Sum([]byte("a-password-1")))
	if !errors.Is(err, ErrFileChanged) {
		t.Fatalf("Lookup on a truncated mapping = %v, want ErrFileChanged", err)
	}
	if !f.broken.Load() {
		t.Fatal("filter not marked broken after a fault")
	}
}

func writeHIBP(t *testing.T, pw string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(p, fmt.Appendf(nil, "%X:1\n", sha1.Sum([]byte(pw))), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
