package breach

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// startProgress prints a progress line to w every second until the
// returned function is called. With w nil it does nothing.
func startProgress(w io.Writer, srcs []*source, read *atomic.Int64, added *atomic.Uint64) func() {
	if w == nil {
		return func() {}
	}
	var total int64
	for _, s := range srcs {
		if s.size < 0 {
			total = -1
			break
		}
		total += s.size
	}
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprintln(w)
				return
			case <-t.C:
				el := time.Since(start).Seconds()
				r, n := read.Load(), added.Load()
				line := fmt.Sprintf("\r%s read, %d hashes, %.2fM hashes/s, %s/s", mib(r), n, float64(n)/el/1e6, mib(int64(float64(r)/el)))
				if total > 0 && r > 0 {
					eta := time.Duration(float64(total-r) / (float64(r) / el) * float64(time.Second))
					line += fmt.Sprintf(", %.1f%%, ETA %s", 100*float64(r)/float64(total), eta.Round(time.Second))
				}
				fmt.Fprint(w, line+"   ")
			}
		}
	})
	return func() { close(stop); wg.Wait() }
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
