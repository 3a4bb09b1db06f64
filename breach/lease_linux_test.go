package breach

import (
	"crypto/sha1"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// leasedFilter opens a fresh filter file holding pw and requires that the
// kernel granted the read lease: the test creates the file, so it owns it.
func leasedFilter(t *testing.T, pw string) (*Filter, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.bloom")
	if _, err := Build(t.Context(), BuildOptions{Inputs: []string{writeHIBP(t, pw)}, Out: path, FPR: 0.0001, Version: FormatV2}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if f.Guard() != "lease" {
		t.Fatalf("guard on a file this process owns = %q, want lease", f.Guard())
	}
	return f, path
}

// TestLease_ChangeWaitsUntilBroken is the lease's whole promise: whoever
// opens the mapped file for writing or truncates it is held in the kernel
// until the filter is marked broken, so no lookup can read a changed word
// and trust it. The change runs in another goroutine; the moment its
// system call returns, broken must already be set. Without the lease the
// call returns at once with broken still false (the stat guard only looks
// at the next lookup).
func TestLease_ChangeWaitsUntilBroken(t *testing.T) {
	const pw = "Quartz-Heron-58!lm"
	cases := []struct {
		name   string
		change func(path string) error
	}{
		{"OpenForWriting", func(path string) error {
			fh, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err == nil {
				fh.Close()
			}
			return err
		}},
		{"Truncate", func(path string) error { return os.Truncate(path, 0) }},
		{"CopiedOver", func(path string) error { return os.WriteFile(path, []byte("not a filter"), 0o600) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, path := leasedFilter(t, pw)
			if found, err := f.Lookup(sha1.Sum([]byte(pw))); err != nil || !found {
				t.Fatalf("Lookup before the change = %v, %v", found, err)
			}
			brokenWhenDone := make(chan bool, 1)
			errc := make(chan error, 1)
			go func() {
				err := tc.change(path)
				brokenWhenDone <- f.broken.Load()
				errc <- err
			}()
			broken := <-brokenWhenDone
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !broken {
				t.Fatal("the change went through before the filter was marked broken")
			}
			if _, err := f.Lookup(sha1.Sum([]byte(pw))); !errors.Is(err, ErrFileChanged) {
				t.Fatalf("Lookup after the change = %v, want ErrFileChanged", err)
			}
		})
	}
}

// TestLease_EachFilterItsOwn: a break on one file marks only that filter
// (a Checker holds the old and the new filter during a reload), and
// reading the file or renaming another over its path breaks nothing.
func TestLease_EachFilterItsOwn(t *testing.T) {
	f1, p1 := leasedFilter(t, "first-Password-11")
	f2, p2 := leasedFilter(t, "second-Password-22")

	if _, err := os.ReadFile(p2); err != nil {
		t.Fatal(err)
	}
	tmp := p2 + ".new"
	if err := os.WriteFile(tmp, []byte("replacement"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p2); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p1, 0); err != nil {
		t.Fatal(err)
	}
	if !f1.broken.Load() {
		t.Fatal("the truncated filter is not marked broken")
	}
	if found, err := f2.Lookup(sha1.Sum([]byte("second-Password-22"))); err != nil || !found {
		t.Fatalf("the other filter after a read and a rename over its path: %v, %v", found, err)
	}
	if f2.broken.Load() {
		t.Fatal("a read or a rename broke the other filter")
	}
}

// TestLease_RefusedFallsBackToStat: a file someone holds open for writing
// gets no read lease; the guard then checks the file after each lookup,
// and a truncation still fails the lookup closed.
func TestLease_RefusedFallsBackToStat(t *testing.T) {
	const pw = "Falcon-Maple-47#rt"
	path := filepath.Join(t.TempDir(), "f.bloom")
	if _, err := Build(t.Context(), BuildOptions{Inputs: []string{writeHIBP(t, pw)}, Out: path, FPR: 0.0001, Version: FormatV2}); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if g := f.Guard(); g != "stat" {
		t.Fatalf("guard with a writer holding the file = %q, want stat", g)
	}
	if found, err := f.Lookup(sha1.Sum([]byte(pw))); err != nil || !found {
		t.Fatalf("Lookup before the change = %v, %v", found, err)
	}
	if err := w.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Lookup(sha1.Sum([]byte(pw))); !errors.Is(err, ErrFileChanged) {
		t.Fatalf("Lookup after the truncation = %v, want ErrFileChanged", err)
	}
}

// TestLease_CloseForgets: a closed filter leaves the watcher's set, so a
// later signal never touches its closed descriptor.
func TestLease_CloseForgets(t *testing.T) {
	f, _ := leasedFilter(t, "closing-Password-33")
	f.Close()
	leases.Lock()
	_, held := leases.held[f]
	leases.Unlock()
	if held {
		t.Fatal("a closed filter is still in the lease watcher's set")
	}
}
