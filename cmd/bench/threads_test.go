package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeProc writes stat and schedstat files under dir: a path ending in a
// pid gets stat (from the map) and schedstat; pid/task/tid gets schedstat.
func fakeProc(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for path, body := range files {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
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

// The bench is pid 1000 and its server pid 1001; neither counts.
func TestOthersSince_CountsEveryThreadButTheBenchsAndItsServers(t *testing.T) {
	dir := t.TempDir()
	fakeProc(t, dir, map[string]string{
		"2/stat": "2 (kthreadd) S 0 0 0", "2/schedstat": "1000 0 1",
		"80/stat": "80 (kdamond.0) S 2 0 0", "80/schedstat": "5000000 0 10",
		"25/stat": "25 (kworker/1:0-events) I 2 0 0", "25/schedstat": "1000000 0 3",
		"700/stat": "700 (sshd) S 1 0 0", "700/task/700/schedstat": "3000000 0 5", "700/task/701/schedstat": "100 0 1",
		"1000/stat": "1000 (bench) S 1 0 0", "1000/task/1000/schedstat": "900000000 0 99",
		"1001/stat": "1001 (safereset) S 1000 0 0", "1001/task/1001/schedstat": "900000000 0 99",
	})
	before := otherThreads(dir, 1000)
	if len(before) != 5 {
		t.Fatalf("read %d threads, want 5 (kthreadd, kdamond, kworker, two of sshd): %v", len(before), before)
	}
	fakeProc(t, dir, map[string]string{
		"80/schedstat": "17000000 0 14",                                                        // +12 ms
		"25/stat":      "25 (kworker/1:0-virtio_vsock) I 2 0 0", "25/schedstat": "1500000 0 4", // +0.5 ms, on another queue
		"31/stat": "31 (kworker/0:2-mm_percpu_wq) I 2 0 0", "31/schedstat": "2000000 0 1", // new: all 2 ms
		"700/task/701/schedstat":   "1000100 0 2", // +1 ms
		"1000/task/1000/schedstat": "990000000 0 120",
		"1001/task/1001/schedstat": "990000000 0 120",
	})
	k := othersSince(dir, 1000, before)
	if !k.known || k.total != 15500*time.Microsecond {
		t.Fatalf("total %v (known %v), want 15.5ms", k.total, k.known)
	}
	want := []thread{{"kdamond.0", 12 * time.Millisecond}, {"kworker", 2500 * time.Microsecond}, {"sshd", time.Millisecond}}
	if len(k.by) != len(want) {
		t.Fatalf("by name %v, want %v", k.by, want)
	}
	for i := range want {
		if k.by[i] != want[i] {
			t.Fatalf("by name %v, want %v", k.by, want)
		}
	}
	if got := k.String(); got != "other threads ran 15.5 ms (kdamond.0 12.0, kworker 2.5)" {
		t.Fatalf("described as %q", got)
	}
}

func TestOthersSince_UnreadableProcSaysSo(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	k := othersSince(none, 1, otherThreads(none, 1))
	if k.known || !strings.Contains(k.String(), "not readable") {
		t.Fatalf("%+v: %q", k, k)
	}
}

func TestOtherThreads_ReadsThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("threads are read from Linux's /proc")
	}
	ts := otherThreads("/proc", os.Getpid())
	if _, ok := ts[os.Getpid()]; ok {
		t.Fatal("this process's own thread was read")
	}
	if len(ts) == 0 {
		t.Fatal("no other thread read from /proc")
	}
}
