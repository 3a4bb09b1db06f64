package breach_test

import (
	"crypto/sha1"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safereset/safereset/breach"
)

// A filter sized for a high false-positive rate makes false positives easy
// to find; the exact store must turn every one of them into "not breached"
// while still refusing every member.
func TestChecker_TwoStage(t *testing.T) {
	var b strings.Builder
	members := map[string]uint64{}
	for i := range 300 {
		pw := fmt.Sprintf("member-%d-Xq9!", i)
		members[pw] = uint64(i + 1)
		fmt.Fprintf(&b, "%X:%d\n", sha1.Sum([]byte(pw)), i+1)
	}
	in := writeFile(t, filepath.Join(t.TempDir(), "in.txt"), []byte(b.String()))
	bloomPath, exactPath, _ := buildExact(t, breach.BuildOptions{Inputs: []string{in}, FPR: 0.2})

	var fps []string
	plain := breach.NewChecker(mustOpen(t, bloomPath), breach.CheckerOptions{})
	defer plain.Close()
	for i := 0; len(fps) < 50; i++ {
		pw := fmt.Sprintf("stranger-%d-Zr4?", i)
		v, err := plain.Check(pw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v.Breached {
			fps = append(fps, pw)
		}
	}
	if s := plain.ExactStats(); s.Enabled || s.BloomHits != 0 {
		t.Fatalf("checker without exact store counts %+v", s)
	}

	for _, minCount := range []uint64{0, 100} {
		t.Run(fmt.Sprintf("MinCount%d", minCount), func(t *testing.T) {
			e, err := breach.OpenExact(exactPath)
			if err != nil {
				t.Fatal(err)
			}
			c := breach.NewChecker(mustOpen(t, bloomPath), breach.CheckerOptions{Exact: e, MinCount: minCount})
			defer c.Close()
			confirmed, below := 0, 0
			for pw, n := range members {
				v, err := c.Check(pw, nil)
				if err != nil {
					t.Fatal(err)
				}
				if want := n >= max(minCount, 1); v.Breached != want {
					t.Fatalf("%s (count %d): breached %v, want %v", pw, n, v.Breached, want)
				}
				if v.Breached {
					confirmed++
				} else {
					below++
				}
			}
			for _, pw := range fps {
				v, err := c.Check(pw, nil)
				if err != nil {
					t.Fatal(err)
				}
				if v.Breached {
					t.Fatalf("false positive %s still refused with the exact store", pw)
				}
			}
			s := c.ExactStats()
			want := breach.ExactStats{Enabled: true, BloomHits: uint64(len(members) + len(fps)), Confirmed: uint64(confirmed), FalsePositives: uint64(len(fps)), BelowMinCount: uint64(below)}
			if s != want {
				t.Fatalf("ExactStats = %+v, want %+v", s, want)
			}
		})
	}
}
