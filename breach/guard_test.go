package breach_test

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/safereset/safereset/breach"
)

// TestChecker_FileChangedInPlace: truncating, overwriting or rewriting the
// mapped file in place (as `cp new.bloom live.bloom` does) never crashes
// the process; checks fail closed with ErrFileChanged, Problem says so, and
// a valid file renamed into place and reloaded restores service.
// Both format versions go through the same guard.
func TestChecker_FileChangedInPlace(t *testing.T) {
	for _, v := range []uint32{breach.FormatV1, breach.FormatV2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { testFileChangedInPlace(t, v) })
	}
}

func testFileChangedInPlace(t *testing.T, version uint32) {
	const pw = "Zebra-Cactus-91!xq"
	good, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, pw)}, FPR: 0.0001, Version: version})
	other, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, pw, "Lantern-Oyster-73?vk")}, FPR: 0.0001, Version: version})

	cases := []struct {
		name   string
		change func(t *testing.T, live string)
	}{
		{"TruncatedToZero", func(t *testing.T, live string) {
			if err := os.Truncate(live, 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"TruncatedToHeader", func(t *testing.T, live string) {
			if err := os.Truncate(live, breach.HeaderSize); err != nil {
				t.Fatal(err)
			}
		}},
		{"OverwrittenSameSize", func(t *testing.T, live string) {
			fh, err := os.OpenFile(live, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			st, _ := fh.Stat()
			zeros := make([]byte, st.Size()-breach.HeaderSize)
			if _, err := fh.WriteAt(zeros, breach.HeaderSize); err != nil {
				t.Fatal(err)
			}
		}},
		{"CopiedOver", func(t *testing.T, live string) {
			// What cp does: open with O_TRUNC and write the new bytes.
			if err := os.WriteFile(live, readFile(t, other), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "live.bloom")
			writeFile(t, live, readFile(t, good))
			c := breach.NewChecker(mustOpenNoClose(t, live), breach.CheckerOptions{})
			defer c.Close()
			if v, err := c.Check(pw, nil); err != nil || !v.Breached {
				t.Fatalf("before the change: %+v %v", v, err)
			}
			if err := c.Problem(); err != nil {
				t.Fatalf("Problem before the change: %v", err)
			}

			tc.change(t, live)

			for _, p := range []string{pw, "Lantern-Oyster-73?vk", "another password"} {
				if v, err := c.Check(p, nil); !errors.Is(err, breach.ErrFileChanged) {
					t.Fatalf("Check(%q) after the change = %+v, %v; want ErrFileChanged", p, v, err)
				}
			}
			if err := c.Problem(); !errors.Is(err, breach.ErrFileChanged) {
				t.Fatalf("Problem after the change = %v", err)
			}
			if err := c.Verify(); !errors.Is(err, breach.ErrFileChanged) {
				t.Fatalf("Verify after the change = %v", err)
			}

			tmp := live + ".tmp"
			writeFile(t, tmp, readFile(t, other))
			if err := os.Rename(tmp, live); err != nil {
				t.Fatal(err)
			}
			if err := c.Reload(""); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			if err := c.Problem(); err != nil {
				t.Fatalf("Problem after the reload: %v", err)
			}
			if v, err := c.Check("Lantern-Oyster-73?vk", nil); err != nil || !v.Breached {
				t.Fatalf("after the reload: %+v %v", v, err)
			}
		})
	}
}

// TestChecker_RenameOverIsSafe: renaming a new file over the mapped path
// leaves the old mapping valid; it keeps serving until a reload.
func TestChecker_RenameOverIsSafe(t *testing.T) {
	const pw = "Zebra-Cactus-91!xq"
	good, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, pw)}, FPR: 0.0001})
	live := filepath.Join(t.TempDir(), "live.bloom")
	writeFile(t, live, readFile(t, good))
	c := breach.NewChecker(mustOpenNoClose(t, live), breach.CheckerOptions{})
	defer c.Close()
	tmp := live + ".tmp"
	writeFile(t, tmp, []byte("not a filter"))
	if err := os.Rename(tmp, live); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Check(pw, nil); err != nil || !v.Breached {
		t.Fatalf("old mapping after rename: %+v %v", v, err)
	}
	if err := c.Problem(); err != nil {
		t.Fatalf("Problem: %v", err)
	}
}

// TestFilter_LookupNeverFaults is the bare filter level: a lookup after
// truncation returns an error rather than killing the test binary.
func TestFilter_LookupNeverFaults(t *testing.T) {
	for _, v := range []uint32{breach.FormatV1, breach.FormatV2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			good, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "x-password-1")}, FPR: 0.0001, Version: v})
			live := filepath.Join(t.TempDir(), "live.bloom")
			writeFile(t, live, readFile(t, good))
			f := mustOpen(t, live)
			if found, err := f.Lookup(sha1.Sum([]byte("x-password-1"))); err != nil || !found {
				t.Fatalf("Lookup before the change = %v, %v", found, err)
			}
			if err := os.Truncate(live, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Lookup(sha1.Sum([]byte("x-password-1"))); !errors.Is(err, breach.ErrFileChanged) {
				t.Fatalf("Lookup = %v", err)
			}
		})
	}
}

func mustOpenNoClose(t *testing.T, path string) *breach.Filter {
	t.Helper()
	f, err := breach.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return f
}
