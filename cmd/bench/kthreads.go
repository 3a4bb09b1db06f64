package main

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kernel threads. On this project's 2-CPU test machine the gaps the
// stall probe finds, and the open loops' worst milliseconds, line up
// with the guest kernel's own threads: DAMON's kdamond.0 (set up by the
// platform to page out cold memory) runs for 1 to 15 ms at a time, a few
// times a second, and the kernel is built with PREEMPT_NONE, so nothing
// in user space runs on that CPU until it yields (perf sched timehist,
// BENCHMARKS.md). The bench reads how long kernel threads ran during the
// stall probe and during each open loop so a reader can tell such a
// stall from the server's own tail.

// kthread is one kernel thread's name and total run time.
type kthread struct {
	name string
	run  time.Duration
}

// kernelThreads reads every kernel thread (a child of kthreadd, pid 2)
// under the proc root: its name from stat, its run time in nanoseconds
// from schedstat. Without /proc (off Linux) it returns nil.
func kernelThreads(proc string) map[int]kthread {
	dirs, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	ks := make(map[int]kthread)
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(proc, d.Name(), "stat"))
		if err != nil {
			continue
		}
		name, ppid, ok := parseStat(stat)
		if !ok || (ppid != 2 && pid != 2) {
			continue
		}
		ss, err := os.ReadFile(filepath.Join(proc, d.Name(), "schedstat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(ss))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		ks[pid] = kthread{name: name, run: time.Duration(ns)}
	}
	return ks
}

// parseStat takes the name and parent pid out of a /proc/<pid>/stat line:
// "80 (kdamond.0) S 2 …". The name may hold spaces and parentheses, so it
// ends at the last ')'.
func parseStat(b []byte) (name string, ppid int, ok bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return "", 0, false
	}
	return string(b[open+1 : end]), ppid, true
}

// kernelTime is how long kernel threads ran between two readings, and the
// names that ran the longest.
type kernelTime struct {
	known bool
	total time.Duration
	by    []kthread // by name ("kworker/1:0-events" counts as kworker), longest first
}

// kernelSince is the kernel threads' run time since before was read. A
// thread that started in between counts its whole run time.
func kernelSince(proc string, before map[int]kthread) kernelTime {
	if before == nil {
		return kernelTime{}
	}
	now := kernelThreads(proc)
	if now == nil {
		return kernelTime{}
	}
	sums := map[string]time.Duration{}
	kt := kernelTime{known: true}
	for pid, k := range now {
		// A kworker's name changes with the work queue it runs, so a
		// thread is known by its pid; one whose run time went down is a
		// new thread under a reused pid.
		d := k.run
		if b, ok := before[pid]; ok && b.run <= k.run {
			d -= b.run
		}
		if d <= 0 {
			continue
		}
		name, _, _ := strings.Cut(k.name, "/")
		sums[name] += d
		kt.total += d
	}
	for name, d := range sums {
		kt.by = append(kt.by, kthread{name: name, run: d})
	}
	slices.SortFunc(kt.by, func(a, b kthread) int {
		return cmp.Or(cmp.Compare(b.run, a.run), strings.Compare(a.name, b.name))
	})
	return kt
}

func (k kernelTime) String() string {
	if !k.known {
		return "kernel threads: not readable here"
	}
	s := fmt.Sprintf("kernel threads ran %.1f ms", float64(k.total)/float64(time.Millisecond))
	var top []string
	for _, t := range k.by[:min(2, len(k.by))] {
		top = append(top, fmt.Sprintf("%s %.1f", t.name, float64(t.run)/float64(time.Millisecond)))
	}
	if len(top) > 0 {
		s += " (" + strings.Join(top, ", ") + ")"
	}
	return s
}

// printKernel prints, under a table, how long kernel threads ran during
// each of its open loops.
func printKernel(w io.Writer, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "during each open loop:")
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
