package main

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/safereset/safereset/internal/loadgen"
)

// run is one measured attack on one process.
type run struct {
	n        int            // answered requests
	wrong    int            // answers with another status than expected, or transport errors
	statuses map[uint16]int // every status seen
	lat      []time.Duration
	wall     time.Duration
	cpu      float64         // server CPU seconds used during the attack
	genCPU   float64         // this process's (the load generator's) CPU seconds during the attack
	hist     *loadgen.Hist   // the lean generator's latencies, instead of lat
	lean     *loadgen.Result // the lean generator's whole result (open-loop lateness)
	others   otherTime       // other threads' run time during an open loop
}

func (r run) rps() float64 { return float64(r.n) / r.wall.Seconds() }

// genCPUPer1k is the load generator's CPU seconds per 1,000 answered requests.
func (r run) genCPUPer1k() float64 {
	if r.n == 0 {
		return math.NaN()
	}
	return r.genCPU / float64(r.n) * 1000
}

// cpuPer1k is server CPU seconds per 1,000 answered requests.
func (r run) cpuPer1k() float64 {
	if r.n == 0 {
		return math.NaN()
	}
	return r.cpu / float64(r.n) * 1000
}

// quantile returns the q-quantile of the latencies (nearest rank).
func (r run) quantile(q float64) time.Duration {
	if r.hist != nil {
		return r.hist.Quantile(q)
	}
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// attackOpts says how hard to drive a target.
type attackOpts struct {
	conns int           // concurrent connections (closed loop when rate is 0)
	rate  int           // requests per second; 0 = as fast as conns allow
	dur   time.Duration // 0 = until the targeter runs out
	max   int           // stop after this many requests (0 = no cap)

	portable bool // the lean generator's portable engine (--gen lean-portable)
}

// attack drives tr against the process with pid and measures it.
func attack(pid int, tr vegeta.Targeter, want int, o attackOpts) (run, error) {
	return attackCPU(func() (float64, error) { return cpuSeconds(pid) }, tr, want, o)
}

// attackCPU is attack with the server's CPU time read by cpu, for a server
// made of several processes.
func attackCPU(cpu func() (float64, error), tr vegeta.Targeter, want int, o attackOpts) (run, error) {
	workers, maxWorkers, maxConns := uint64(o.conns), uint64(o.conns), o.conns
	if o.rate > 0 {
		// Open loop: enough workers and connections that the generator
		// rarely waits for the server, so latency includes the server's
		// queueing; connections stay below the server's default
		// --max-conns-per-ip (256), which would refuse the rest.
		maxWorkers, maxConns = uint64(max(o.conns, o.rate)), max(o.conns, 200)
	}
	// Our own transport, so its connections can be closed after the run:
	// idle keep-alive connections of earlier runs would otherwise count
	// against the server's per-IP connection cap.
	transport := &http.Transport{
		MaxIdleConnsPerHost: o.conns,
		MaxConnsPerHost:     maxConns,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	atk := vegeta.NewAttacker(vegeta.Client(client), vegeta.Workers(workers), vegeta.MaxWorkers(maxWorkers))
	var pacer vegeta.Pacer = vegeta.ConstantPacer{} // zero value: no pacing
	if o.rate > 0 {
		pacer = vegeta.ConstantPacer{Freq: o.rate, Per: time.Second}
	}
	if o.max > 0 {
		pacer = capped{pacer, uint64(o.max)}
	}
	cpu0, err := cpu()
	if err != nil {
		return run{}, err
	}
	gen0, err := loadgen.SelfCPU()
	if err != nil {
		return run{}, err
	}
	r := run{statuses: map[uint16]int{}}
	start := time.Now()
	for res := range atk.Attack(tr, pacer, o.dur, "") {
		if res.Method == "" { // the targeter ran out; no request was sent
			continue
		}
		r.statuses[res.Code]++
		if res.Code == 0 {
			r.wrong++
			continue
		}
		if int(res.Code) != want {
			r.wrong++
		}
		r.n++
		r.lat = append(r.lat, res.Latency)
	}
	r.wall = time.Since(start)
	cpu1, err := cpu()
	if err != nil {
		return run{}, err
	}
	r.cpu = cpu1 - cpu0
	gen1, err := loadgen.SelfCPU()
	if err != nil {
		return run{}, err
	}
	r.genCPU = gen1 - gen0
	return r, nil
}

// interleaved runs rounds of an A/B pair, safereset first in even rounds
// and the bare endpoint first in odd ones, so drift in the machine's load
// falls on both sides alike, and returns each side's runs merged.
func interleaved(rounds int, sr, bare func() (run, error)) (run, run, error) {
	var srRuns, bareRuns []run
	for round := 0; round < rounds; round++ {
		sides := []bool{true, false}
		if round%2 == 1 {
			sides = []bool{false, true}
		}
		for _, isSR := range sides {
			drive, runs := sr, &srRuns
			if !isSR {
				drive, runs = bare, &bareRuns
			}
			r, err := drive()
			if err != nil {
				return run{}, run{}, err
			}
			*runs = append(*runs, r)
		}
	}
	return merge(srRuns), merge(bareRuns), nil
}

// merge adds the runs of several rounds into one.
func merge(rs []run) run {
	m := run{statuses: map[uint16]int{}}
	for _, r := range rs {
		m.n += r.n
		m.wrong += r.wrong
		m.wall += r.wall
		m.cpu += r.cpu
		m.genCPU += r.genCPU
		m.lat = append(m.lat, r.lat...)
		if r.hist != nil {
			if m.hist == nil {
				m.hist = new(loadgen.Hist)
			}
			m.hist.Merge(r.hist)
		}
		for k, v := range r.statuses {
			m.statuses[k] += v
		}
	}
	return m
}

// static returns a targeter that sends the same request every time.
func static(method, url string, hdr http.Header, body []byte) vegeta.Targeter {
	return vegeta.NewStaticTargeter(vegeta.Target{Method: method, URL: url, Header: hdr, Body: body})
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// capped stops an attack after a number of hits.
type capped struct {
	vegeta.Pacer
	limit uint64
}

func (c capped) Pace(el time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= c.limit {
		return 0, true
	}
	return c.Pacer.Pace(el, hits)
}
