package breach_test

import (
	"crypto/sha1"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/safereset/safereset/breach"
)

// A blocked (version 2) filter built for target FPR p, probed with keys
// that were not inserted, has a measured false-positive rate of at most
// fpTolerance × p. The sizing formula (the Poisson mixture over block
// loads) is what makes this hold. The tolerance leaves room for the
// sampling error (at 10^6 probes and p = 0.001 one standard deviation is
// 3% of p) and for the formula's independence approximation.
const fpTolerance = 1.2

func TestBlocked_FalsePositiveRate(t *testing.T) {
	cases := []struct {
		n, probes int
		target    float64
	}{
		{200_000, 1_000_000, 0.001}, // the default rate; k from the SHA-1 alone
		{50_000, 1_000_000, 0.0001}, // k > 10: offsets from the murmur hashes too
		{20_000, 200_000, 0.01},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n=%d/p=%g", c.n, c.target), func(t *testing.T) {
			keys := genKeys(c.n, 40)
			in := writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, false, "\n"))
			path, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{in}, FPR: c.target})
			h := rep.Header
			if h.Version != breach.FormatV2 || rep.Oversized {
				t.Fatalf("header %+v oversized %v", h, rep.Oversized)
			}
			f := mustOpen(t, path)
			for _, k := range keys {
				if !f.ContainsSHA1(k) {
					t.Fatal("member not found")
				}
			}
			fp := 0
			for _, k := range genKeys(c.probes, 41) {
				if f.ContainsSHA1(k) {
					fp++
				}
			}
			rate := float64(fp) / float64(c.probes)
			t.Logf("k=%d, %.2f bits per key: measured FPR %.5f (%d of %d), target %g, formula %.5f",
				h.K, float64(h.M)/float64(c.n), rate, fp, c.probes, c.target, rep.ExpectedFPR)
			if rate > fpTolerance*c.target {
				t.Fatalf("measured FPR %.5f is above %.1f x target %g", rate, fpTolerance, c.target)
			}
			if rep.ExpectedFPR > c.target {
				t.Fatalf("formula FPR %.6f at the built size is above the target %g", rep.ExpectedFPR, c.target)
			}
		})
	}
}

// v1 and v2 filters built from the same members answer identically for
// every member (both find all of them), and the guarded Lookup of each
// agrees with ContainsSHA1 for members and non-members alike.
func TestBlocked_MembersAgreeWithV1(t *testing.T) {
	keys := genKeys(30_000, 42)
	pw := []string{"correct horse battery staple", "Tr0ub4dor&3", "hunter2"}
	for _, p := range pw {
		keys = append(keys, sha1.Sum([]byte(p)))
	}
	in := writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, true, "\n"))
	filters := map[uint32]*breach.Filter{}
	for _, v := range []uint32{breach.FormatV1, breach.FormatV2} {
		path, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{in}, Version: v})
		if rep.Header.Version != v {
			t.Fatalf("built version %d, want %d", rep.Header.Version, v)
		}
		filters[v] = mustOpen(t, path)
	}
	for i, k := range keys {
		for v, f := range filters {
			got, err := f.Lookup(k)
			if err != nil || !got || !f.ContainsSHA1(k) {
				t.Fatalf("v%d: member %d: Lookup = %v, %v; ContainsSHA1 = %v", v, i, got, err, f.ContainsSHA1(k))
			}
		}
	}
	both, only := 0, 0
	for _, k := range genKeys(100_000, 43) {
		a, errA := filters[breach.FormatV1].Lookup(k)
		b, errB := filters[breach.FormatV2].Lookup(k)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if a != filters[breach.FormatV1].ContainsSHA1(k) || b != filters[breach.FormatV2].ContainsSHA1(k) {
			t.Fatal("Lookup and ContainsSHA1 disagree")
		}
		if a && b {
			both++
		} else if a || b {
			only++
		}
	}
	// The layouts put a key's bits in unrelated places, so their false
	// positives are (nearly) independent: a non-member hit in one is rarely
	// a hit in the other. Were v2 a copy of v1, every hit would be shared.
	t.Logf("non-member hits: %d in both, %d in only one", both, only)
	if only == 0 || both > only {
		t.Fatalf("non-member hits %d in both and %d in one: the layouts are not independent", both, only)
	}
}
