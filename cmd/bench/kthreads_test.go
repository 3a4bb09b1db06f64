package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeProc writes /proc/<pid>/stat and schedstat for each thread.
func fakeProc(t *testing.T, dir string, threads map[string][2]string) {
	t.Helper()
	for pid, f := range threads {
		d := filepath.Join(dir, pid)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(f[0]), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "schedstat"), []byte(f[1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseStat_NameEndsAtTheLastParenthesis(t *testing.T) {
	name, ppid, ok := parseStat([]byte("4242 (a (b) c) S 77 4242 4242 0 -1 4194560 120\n"))
	if !ok || name != "a (b) c" || ppid != 77 {
		t.Fatalf("got %q %d %v", name, ppid, ok)
	}
	for _, bad := range []string{"", "80 kdamond S 2", "80 (kdamond.0) S", "80 (x) S two"} {
		if _, _, ok := parseStat([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestKernelSince_CountsOnlyKernelThreadsAndTheirGrowth(t *testing.T) {
	dir := t.TempDir()
	fakeProc(t, dir, map[string][2]string{
		"2":    {"2 (kthreadd) S 0 0 0", "1000 0 1"},
		"80":   {"80 (kdamond.0) S 2 0 0", "5000000 0 10"},
		"25":   {"25 (kworker/1:0-events) I 2 0 0", "1000000 0 3"},
		"4000": {"4000 (safereset) S 3999 0 0", "900000000 0 99"}, // a user process: not counted
	})
	before := kernelThreads(dir)
	if len(before) != 3 {
		t.Fatalf("read %d kernel threads, want 3: %v", len(before), before)
	}
	fakeProc(t, dir, map[string][2]string{
		"80":   {"80 (kdamond.0) S 2 0 0", "17000000 0 14"},              // +12 ms
		"25":   {"25 (kworker/1:0-events) I 2 0 0", "1500000 0 4"},       // +0.5 ms
		"31":   {"31 (kworker/0:2-mm_percpu_wq) I 2 0 0", "2000000 0 1"}, // new: all 2 ms
		"4000": {"4000 (safereset) S 3999 0 0", "990000000 0 120"},
	})
	k := kernelSince(dir, before)
	if !k.known || k.total != 14500*time.Microsecond {
		t.Fatalf("total %v (known %v), want 14.5ms", k.total, k.known)
	}
	if len(k.by) != 2 || k.by[0] != (kthread{"kdamond.0", 12 * time.Millisecond}) || k.by[1] != (kthread{"kworker", 2500 * time.Microsecond}) {
		t.Fatalf("by name %v", k.by)
	}
	if got := k.String(); got != "kernel threads ran 14.5 ms (kdamond.0 12.0, kworker 2.5)" {
		t.Fatalf("described as %q", got)
	}
}

func TestKernelSince_UnreadableProcSaysSo(t *testing.T) {
	k := kernelSince(filepath.Join(t.TempDir(), "none"), kernelThreads(filepath.Join(t.TempDir(), "none")))
	if k.known || !strings.Contains(k.String(), "not readable") {
		t.Fatalf("%+v: %q", k, k)
	}
}

func TestKernelThreads_ReadsThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("kernel threads are read from Linux's /proc")
	}
	if b, err := os.ReadFile("/proc/2/stat"); err != nil || !strings.Contains(string(b), "(kthreadd)") {
		t.Skip("pid 2 is not kthreadd here (a pid namespace): no kernel threads to read")
	}
	ks := kernelThreads("/proc")
	if _, ok := ks[2]; !ok {
		t.Fatalf("kthreadd (pid 2) not among %d kernel threads read", len(ks))
	}
}
