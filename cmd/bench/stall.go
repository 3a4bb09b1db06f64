package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

// Host stalls. Something other than the bench can hold a CPU for
// milliseconds: the hypervisor taking the vCPU away (/proc/stat's steal
// may not show it), or a kernel thread that does not yield (kthreads.go).
// An open-loop run at 10,000 req/s that stalls for 20 ms
// queues 200 requests behind the stall: a few such stalls in a 5 s run
// decide its p99 whatever the server does. So each run says how much the
// machine stalled, measured just before the first bench and after the
// last by spinning one thread per CPU on the clock, with how long every
// other thread on the machine ran meanwhile.

// gapTally counts the gaps between successive clock readings of one
// spinning thread that are longer than stallMin: time it did not run.
type gapTally struct {
	last    time.Duration
	stall   time.Duration // sum of the gaps over stallMin
	over5   int           // gaps over 5 ms
	n       int           // gaps over stallMin
	longest time.Duration
}

const stallMin = time.Millisecond

func (g *gapTally) add(now time.Duration) {
	if d := now - g.last; d > stallMin {
		g.n++
		g.stall += d
		if d > 5*time.Millisecond {
			g.over5++
		}
		g.longest = max(g.longest, d)
	}
	g.last = now
}

// stalls is what hostStalls measured over all threads.
type stalls struct {
	spun   time.Duration // per thread
	others otherTime     // other threads' run time during the spin
	frac   float64       // share of the threads' time spent in stalls
	n      int
	over5  int
	max    time.Duration
}

func (s stalls) String() string {
	return fmt.Sprintf("%.2f%% of the time in %d gaps over 1 ms (%d over 5 ms, longest %.1f ms), one thread per CPU spinning %s; %s",
		100*s.frac, s.n, s.over5, float64(s.max)/float64(time.Millisecond), s.spun, s.others)
}

// hostStalls spins one locked thread per CPU for d and tallies the gaps.
func hostStalls(d time.Duration) stalls {
	cpus := runtime.NumCPU()
	ts := make([]gapTally, cpus)
	t0 := otherThreads("/proc", os.Getpid())
	var wg sync.WaitGroup
	for i := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := time.Now()
			for g := &ts[i]; g.last < d; {
				g.add(time.Since(start))
			}
		}()
	}
	wg.Wait()
	s := stalls{spun: d, others: othersSince("/proc", os.Getpid(), t0)}
	var sum time.Duration
	for _, g := range ts {
		sum += g.stall
		s.n += g.n
		s.over5 += g.over5
		s.max = max(s.max, g.longest)
	}
	s.frac = float64(sum) / float64(time.Duration(cpus)*d)
	return s
}
