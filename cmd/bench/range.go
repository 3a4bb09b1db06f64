package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Targets of the range API (SPEC §13).
const (
	targetRangeRPS = 10000
	targetRangeP99 = 2 * time.Millisecond
)

// rangePerPrefix is the number of hashes under each prefix of the bench's
// store: the density of the full Pwned Passwords corpus (about a billion
// hashes over 2^20 prefixes), so every answer is as long as a real one
// (about 40 KB, 800 lines padded or not).
const rangePerPrefix = 950

// rangeOpenRate is the open loop's rate for the range latency: the
// issue's throughput target (p99 <= 2 ms while serving 10k req/s), or
// --open-rate.
func (b *bench) rangeOpenRate() int {
	if b.cfg.openRate > 0 {
		return b.cfg.openRate
	}
	return targetRangeRPS
}

// rangeBench measures GET /range/{prefix} on the real binary: it builds a
// filter and exact store with `safereset breach build --exact` from
// generated hashes, starts `serve --breach-exact --range-addr`, and drives
// random prefixes closed-loop for the peak (interleaved with the bare
// endpoint serving a body of the same size), then open-loop at the target
// rate (10k req/s) for the latency quantiles, without and with
// Add-Padding. "gen CPU" is the load generator's own CPU seconds per 1,000
// requests: with it and the server's, what the two cores allow when both
// share them.
func (b *bench) rangeBench(work string) error {
	bin, err := buildBinary(work)
	if err != nil {
		return err
	}
	in := filepath.Join(work, "range-input.txt")
	if err := writeRangeInput(in, b.cfg.rangePrefixes); err != nil {
		return err
	}
	filter, exact := filepath.Join(work, "range.bloom"), filepath.Join(work, "range.exact")
	if out, err := exec.Command(bin, "breach", "build", "--out", filter, "--exact", exact, in).CombinedOutput(); err != nil {
		return fmt.Errorf("breach build: %v\n%s", err, out)
	}
	os.Remove(in)
	raddr, err := freeAddr()
	if err != nil {
		return err
	}
	if b.sr, err = startSafereset("safereset-range", bin, work, "--breach-filter", filter, "--breach-exact", exact,
		"--range-addr", raddr, "--rate-range", "0"); err != nil {
		return err
	}
	base := "http://" + raddr
	if err := waitReady(base+"/readyz", b.sr); err != nil {
		return fmt.Errorf("range listener: %v", err)
	}
	if b.bare, err = startBare(); err != nil {
		return err
	}
	if b.cfg.pin {
		if err := pinSelf(); err != nil {
			return err
		}
	}
	// Warm: every prefix asked for once, so the store's pages are mapped
	// and the measured runs see no page faults.
	warm := make([]vegeta.Target, b.cfg.rangePrefixes)
	for p := range warm {
		warm[p] = vegeta.Target{Method: "GET", URL: fmt.Sprintf("%s/range/%05X", base, p)}
	}
	if r, err := b.drive(b.sr.pid(), warm, 200, attackOpts{conns: b.cfg.conns, max: len(warm)}); err != nil {
		return err
	} else if err := b.checkWrong("range warm-up", r); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "Range API: %d prefixes of %d hashes, random prefix per request; closed loop at %d connections for the peak\n"+
		"(A/B interleaved with the bare endpoint sending a body of the same size), then open loop at %d req/s.\n\n",
		b.cfg.rangePrefixes, rangePerPrefix, b.cfg.conns, b.rangeOpenRate())
	fmt.Fprint(b.out, b.columnsNote())
	fmt.Fprintf(b.out, "%-22s %9s %9s %7s | %7s %7s %7s %11s | %9s %9s %9s\n", "answer", "req/s", "bare", "ratio", "p50 ms", "p99 ms", "p99.9", "late", "CPU s/1k", "bare CPU", "gen closed/open")
	var others []string
	defer func() { printOthers(b.out, others) }()
	for _, padded := range []bool{false, true} {
		name := "plain"
		hdr := http.Header{}
		if padded {
			name = "Add-Padding: true"
			hdr.Set("Add-Padding", "true")
		}
		size, err := rangeProbe(base, hdr)
		if err != nil {
			return err
		}
		srT := rangeTargets(base, b.cfg.rangePrefixes, hdr)
		bareT := []vegeta.Target{{Method: "GET", URL: fmt.Sprintf("%s/range?n=%d", b.bare.base, size)}}
		closed := attackOpts{conns: b.cfg.conns, dur: b.cfg.dur}
		sr, bare, err := interleaved(b.cfg.rounds,
			func() (run, error) { return b.drive(b.sr.pid(), srT, 200, closed) },
			func() (run, error) { return b.drive(b.bare.pid(), bareT, 400, closed) })
		if err != nil {
			return err
		}
		if err := b.checkWrong("range "+name, sr); err != nil {
			return err
		}
		at80, err := b.drive(b.sr.pid(), srT, 200, attackOpts{conns: b.cfg.conns, rate: b.rangeOpenRate(), dur: b.cfg.dur})
		if err != nil {
			return err
		}
		if err := b.checkWrong("range "+name+" at 80%", at80); err != nil {
			return err
		}
		fmt.Fprintf(b.out, "%-22s %9.0f %9.0f %6.0f%% | %7s %7s %7s %11s | %9.3f %9.3f %7.4f/%.4f\n", name, sr.rps(), bare.rps(), 100*sr.rps()/bare.rps(),
			ms(at80.quantile(0.50)), ms(at80.quantile(0.99)), ms(at80.quantile(0.999)), genLate(at80), sr.cpuPer1k(), bare.cpuPer1k(), sr.genCPUPer1k(), at80.genCPUPer1k())
		others = append(others, fmt.Sprintf("%s: %s", name, at80.others))
		b.target(sr.rps() >= targetRangeRPS, "range %s: %.0f req/s (target >= %d)", name, sr.rps(), targetRangeRPS)
		if rate := b.rangeOpenRate(); rate == targetRangeRPS {
			b.target(at80.quantile(0.99) <= targetRangeP99, "range %s: p99 %s ms at %d req/s (target <= %s ms)", name, ms(at80.quantile(0.99)), rate, ms(targetRangeP99))
		} else {
			b.targets = append(b.targets, fmt.Sprintf("info   range %s: p99 %s ms at %d req/s (--open-rate; target <= %s ms at %d req/s)", name, ms(at80.quantile(0.99)), rate, ms(targetRangeP99), targetRangeRPS))
		}
	}
	return nil
}

// writeRangeInput writes rangePerPrefix random SHA1HEX:COUNT lines under
// each of the first prefixes 5-hex prefixes.
func writeRangeInput(path string, prefixes int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(17, 17))
	for p := range prefixes {
		for range rangePerPrefix {
			fmt.Fprintf(w, "%05X%016X%016X%03X:%d\n", p, r.Uint64(), r.Uint64(), r.Uint32()&0xfff, r.IntN(1000)+1)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rangeProbe fetches one range and checks it is a full answer; it returns
// its size for the bare endpoint.
func rangeProbe(base string, hdr http.Header) (int, error) {
	req, _ := http.NewRequest("GET", base+"/range/00000", nil)
	req.Header = hdr.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) < rangePerPrefix*37 {
		return 0, fmt.Errorf("range probe: status %d, %d bytes", resp.StatusCode, len(body))
	}
	return len(body), nil
}

// rangeTargets are random prefixes of the store, drawn once and sent in
// turn.
func rangeTargets(base string, prefixes int, hdr http.Header) []vegeta.Target {
	r := rand.New(rand.NewPCG(23, 23))
	tgts := make([]vegeta.Target, 1<<14)
	for i := range tgts {
		tgts[i] = vegeta.Target{Method: "GET", URL: fmt.Sprintf("%s/range/%05X", base, r.IntN(prefixes)), Header: hdr}
	}
	return tgts
}
