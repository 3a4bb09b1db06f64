package breach_test

import (
	"crypto/sha1"
	"errors"
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

// Reload reopens the exact store with the filter, and refuses a filter
// whose exact store was not rebuilt with it (its new hashes would pass as
// false positives).
func TestChecker_TwoStageReload(t *testing.T) {
	dir := t.TempDir()
	bloomPath, exactPath := filepath.Join(dir, "f.bloom"), filepath.Join(dir, "f.exact")
	first := hibpFile(t, "Aardvark-Lantern-1!", "Badger-Lantern-2!")
	mustBuild(t, breach.BuildOptions{Out: bloomPath, Exact: exactPath, Inputs: []string{first}})
	e, err := breach.OpenExact(exactPath)
	if err != nil {
		t.Fatal(err)
	}
	c := breach.NewChecker(mustOpen(t, bloomPath), breach.CheckerOptions{Exact: e})
	defer c.Close()
	breached := func(pw string) bool {
		t.Helper()
		v, err := c.Check(pw, nil)
		if err != nil {
			t.Fatal(err)
		}
		return v.Breached
	}
	if !breached("Aardvark-Lantern-1!") || breached("Cheetah-Lantern-3!") {
		t.Fatal("first build: wrong verdicts")
	}

	second := hibpFile(t, "Aardvark-Lantern-1!", "Badger-Lantern-2!", "Cheetah-Lantern-3!")
	t.Run("FilterOnlyRefused", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.bloom")
		mustBuild(t, breach.BuildOptions{Out: other, Inputs: []string{second}})
		if err := c.Reload(other); !errors.Is(err, breach.ErrNotPaired) {
			t.Fatalf("Reload of a filter without its exact store: %v, want ErrNotPaired", err)
		}
		if breached("Cheetah-Lantern-3!") || !breached("Aardvark-Lantern-1!") {
			t.Fatal("a refused reload changed the verdicts")
		}
	})
	t.Run("Both", func(t *testing.T) {
		mustBuild(t, breach.BuildOptions{Out: bloomPath, Exact: exactPath, Inputs: []string{second}})
		if err := c.Reload(""); err != nil {
			t.Fatal(err)
		}
		if !breached("Cheetah-Lantern-3!") || !breached("Aardvark-Lantern-1!") || breached("Dingo-Lantern-4!") {
			t.Fatal("after reloading both: wrong verdicts")
		}
		if c.Exact().Header().N != 3 {
			t.Fatalf("exact store after reload holds %d hashes", c.Exact().Header().N)
		}
	})
}

func TestPaired(t *testing.T) {
	in := hibpFile(t, "Egret-Lantern-5!")
	dir := t.TempDir()
	mustBuild(t, breach.BuildOptions{Out: filepath.Join(dir, "a.bloom"), Exact: filepath.Join(dir, "a.exact"), Inputs: []string{in}})
	mustBuild(t, breach.BuildOptions{Out: filepath.Join(dir, "b.bloom"), Exact: filepath.Join(dir, "b.exact"), Inputs: []string{in}})
	fa, ea, eb := mustOpen(t, filepath.Join(dir, "a.bloom")), mustOpenExact(t, filepath.Join(dir, "a.exact")), mustOpenExact(t, filepath.Join(dir, "b.exact"))
	if err := breach.Paired(fa, ea); err != nil {
		t.Fatalf("same build: %v", err)
	}
	if err := breach.Paired(fa, eb); !errors.Is(err, breach.ErrNotPaired) {
		t.Fatalf("other build: %v, want ErrNotPaired", err)
	}
}
