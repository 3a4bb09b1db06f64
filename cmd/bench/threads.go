package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safereset/safereset/internal/loadgen"
)

// Other threads. On this project's 2-CPU test machine the open loops'
// worst waits line up in part with the guest kernel's own threads:
// DAMON's kdamond.0 (set up by the platform to page out cold memory)
// runs for 1 to 15 ms at a time, a few times a second, and the kernel is
// built with PREEMPT_NONE, so nothing in user space runs on that CPU
// until it yields (perf sched timehist, BENCHMARKS.md). The bench reads
// how long every thread outside itself and its servers ran during the
// stall probe and during each open loop, so a reader can tell such a
// stall from the server's own tail, and a stall that no thread of this
// machine accounts for (the hypervisor's) from both.

// thread is one thread's name and total run time.
type thread struct {
	name string
	run  time.Duration
}

// otherThreads reads every thread under the proc root, by thread id,
// except those of process self and of its children (the servers the
// bench started): its name (a kernel thread's own, a user thread's
// process's) and its run time in nanoseconds from schedstat. Without
// /proc (off Linux) it returns nil.
func otherThreads(proc string, self int) map[int]thread {
	dirs, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	ts := make(map[int]thread)
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(proc, d.Name(), "stat"))
		if err != nil {
			continue
		}
		name, ppid, ok := parseStat(stat)
		if !ok || ppid == self {
			continue
		}
		kernel := ppid == 2 || pid == 2 // kthreadd's children, and kthreadd
		if kernel {
			if run, ok := schedRun(filepath.Join(proc, d.Name(), "schedstat")); ok {
				ts[pid] = thread{name: name, run: run}
			}
			continue
		}
		tasks, _ := os.ReadDir(filepath.Join(proc, d.Name(), "task"))
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if run, ok := schedRun(filepath.Join(proc, d.Name(), "task", t.Name(), "schedstat")); ok {
				ts[tid] = thread{name: name, run: run}
			}
		}
	}
	return ts
}

// schedRun reads the run time, the first field of a schedstat file.
func schedRun(path string) (time.Duration, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	return time.Duration(ns), err == nil
}

// parseStat takes the name and parent pid out of a /proc/<pid>/stat line.
func parseStat(b []byte) (name string, ppid int, ok bool) {
	name, f, ok := loadgen.StatFields(b)
	if !ok || len(f) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return "", 0, false
	}
	return name, ppid, true
}

// otherTime is how long the other threads ran between two readings, and
// the names that ran the longest.
type otherTime struct {
	known bool
	total time.Duration
	by    []thread // by name ("kworker/1:0-events" counts as kworker), longest first
}

// othersSince is the other threads' run time since before was read. A
// thread that started in between counts its whole run time.
func othersSince(proc string, self int, before map[int]thread) otherTime {
	if before == nil {
		return otherTime{}
	}
	now := otherThreads(proc, self)
	if now == nil {
		return otherTime{}
	}
	sums := map[string]time.Duration{}
	ot := otherTime{known: true}
	for pid, t := range now {
		// A kworker's name changes with the work queue it runs, so a
		// thread is known by its pid; one whose run time went down is a
		// new thread under a reused pid.
		d := t.run
		if b, ok := before[pid]; ok && b.run <= t.run {
			d -= b.run
		}
		if d <= 0 {
			continue
		}
		name, _, _ := strings.Cut(t.name, "/")
		sums[name] += d
		ot.total += d
	}
	for name, d := range sums {
		ot.by = append(ot.by, thread{name: name, run: d})
	}
	slices.SortFunc(ot.by, func(a, b thread) int {
		return cmp.Or(cmp.Compare(b.run, a.run), strings.Compare(a.name, b.name))
	})
	return ot
}

func (k otherTime) String() string {
	if !k.known {
		return "other threads: not readable here"
	}
	s := fmt.Sprintf("other threads ran %.1f ms", float64(k.total)/float64(time.Millisecond))
	var top []string
	for _, t := range k.by[:min(2, len(k.by))] {
		top = append(top, fmt.Sprintf("%s %.1f", t.name, float64(t.run)/float64(time.Millisecond)))
	}
	if len(top) > 0 {
		s += " (" + strings.Join(top, ", ") + ")"
	}
	return s
}

// printOthers prints, under a table, how long other threads ran during
// each of its open loops.
func printOthers(w io.Writer, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "during each open loop (threads outside the bench and its servers):")
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
