// Command bench generates HIBP-format test inputs and times breach filter
// builds for BENCHMARKS.md; run.sh drives it. It is not part of safereset.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/safereset/safereset/breach"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	gen := fs.Uint64("gen", 0, "write this many random SHA1HEX:COUNT lines to -file")
	file := fs.String("file", "", "input file")
	out := fs.String("out", "", "filter to build from -file")
	expected := fs.Uint64("expected", 0, "size the filter for this many hashes")
	one := fs.Bool("one-at-a-time", false, "insert with bloom's Add on one core")
	base := fs.String("base", "", "filter to add -file to")
	workers := fs.Int("workers", 0, "workers for the fast builder")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *gen > 0:
		return generate(*file, *gen)
	case *out != "":
		if *cpuprofile != "" {
			pf, err := os.Create(*cpuprofile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(pf); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		start := time.Now()
		rep, err := breach.Build(context.Background(), breach.BuildOptions{
			Out: *out, Inputs: []string{*file}, Expected: *expected, OneAtATime: *one, Workers: *workers, Base: *base,
		})
		if err != nil {
			return err
		}
		el := time.Since(start)
		fsz := rep.Header.FileSize()
		hwm := vmHWM()
		fmt.Printf("hashes=%d seconds=%.2f hashes_per_s=%.0f insert_seconds=%.2f insert_hashes_per_s=%.0f write_seconds=%.2f filter_bytes=%d max_rss_bytes=%d rss_over_filter=%.3f expected_fpr=%.3g\n",
			rep.Added, el.Seconds(), float64(rep.Added)/el.Seconds(), rep.Insert.Seconds(), float64(rep.Added)/rep.Insert.Seconds(), rep.Write.Seconds(), fsz, hwm, float64(hwm)/float64(fsz), rep.ExpectedFPR)
		return nil
	}
	return fmt.Errorf("want -gen N -file F, or -file F -out O")
}

// generate writes n random upper-case HIBP lines with CRLF, like the
// official download.
func generate(path string, n uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	const digits = "0123456789ABCDEF"
	var line []byte
	for i := uint64(0); i < n; i++ {
		line = line[:0]
		for j := 0; j < 40; j += 16 {
			v := r.Uint64()
			for b := 0; b < 16 && j+b < 40; b++ {
				line = append(line, digits[v>>(4*b)&15])
			}
		}
		line = append(line, ':')
		line = strconv.AppendUint(line, uint64(1+r.Uint32N(1000)), 10)
		line = append(line, '\r', '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// vmHWM is this process's peak resident set size.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")), "%d", &kb)
			return kb << 10
		}
	}
	return -1
}
