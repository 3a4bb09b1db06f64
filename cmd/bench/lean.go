package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/safereset/safereset/internal/loadgen"
)

// Load generators the rejection and range benches can use (--gen).
const (
	genLean     = "lean"          // internal/loadgen: raw keep-alive connections, a few µs of CPU a request
	genPortable = "lean-portable" // internal/loadgen's portable engine: a goroutine per connection
	genVegeta   = "vegeta"        // vegeta as a library: the cross-check from code this project did not write
)

// drive measures the process with pid under tgts (sent in turn) with the
// generator --gen chose.
// An open loop also records how long other threads ran during it.
func (b *bench) drive(pid int, tgts []vegeta.Target, want int, o attackOpts) (r run, err error) {
	if o.rate > 0 {
		t0 := otherThreads("/proc", os.Getpid())
		defer func() { r.others = othersSince("/proc", os.Getpid(), t0) }()
	}
	if b.cfg.gen == genVegeta {
		return attack(pid, vegeta.NewStaticTargeter(tgts...), want, o)
	}
	o.portable = b.cfg.gen == genPortable
	return leanAttack(pid, tgts, want, o)
}

// leanAttack is attack with internal/loadgen. A transport or framing
// error is returned: it means the path answered something other than
// what it is meant to measure.
func leanAttack(pid int, tgts []vegeta.Target, want int, o attackOpts) (run, error) {
	if len(tgts) == 0 {
		return run{}, errors.New("no targets")
	}
	cfg := loadgen.Config{Conns: o.conns, Rate: float64(o.rate), Duration: o.dur, Max: o.max, Want: want}
	cfg.Portable, cfg.Loops = leanEngine(o)
	for _, t := range tgts {
		req, addr, err := loadgen.Encode(t.Method, t.URL, t.Header, t.Body)
		if err != nil {
			return run{}, err
		}
		if cfg.Addr != "" && addr != cfg.Addr {
			return run{}, fmt.Errorf("targets on two addresses (%s, %s)", cfg.Addr, addr)
		}
		cfg.Addr = addr
		cfg.Requests = append(cfg.Requests, req)
	}
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return run{}, err
	}
	res, err := loadgen.Run(cfg)
	if err != nil {
		return run{}, err
	}
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return run{}, err
	}
	return run{n: res.N, wrong: res.Wrong, statuses: statuses16(res.Statuses), hist: &res.Lat,
		wall: res.Wall, cpu: cpu1 - cpu0, genCPU: res.CPU, lean: res}, nil
}

// leanEngine picks the lean generator's engine for a run: the portable
// goroutine per connection for a closed-loop peak, one epoll loop for an
// open loop. Measured against each other (BENCHMARKS.md): at a peak one
// loop thread costs the least a request but caps the bare endpoint's
// rate (which would flatter every ratio to it), and two loops cost more
// a request than the goroutines; at a set rate one loop costs less than
// the goroutines (a quarter less at 10k req/s of range answers) and is
// late less often. --gen lean-portable runs the goroutines for both.
func leanEngine(o attackOpts) (portable bool, loops int) {
	if o.portable || o.rate == 0 {
		return true, 0
	}
	return false, 1
}

func statuses16(m map[int]int) map[uint16]int {
	s := make(map[uint16]int, len(m))
	for k, v := range m {
		s[uint16(k)] += v
	}
	return s
}

// genLate describes how late the generator itself was in an open-loop
// run, and how many slots waited for their connection: with it a reader
// can tell the generator's delay from the server's.
func genLate(r run) string {
	if r.lean == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s/%s", ms(r.lean.Late.Quantile(0.99)), ms(r.lean.Late.Max()))
}

// pinServers: --pin runs every measured server (and the bare one) on CPU 1
// with GOMAXPROCS=1, and the bench itself, the load generator, on CPU 0,
// so the generator never takes the server's core.
var pinServers bool

// serverCommand is exec.Command for a measured server, pinned under --pin.
func serverCommand(bin string, args ...string) *exec.Cmd {
	if !pinServers {
		return exec.Command(bin, args...)
	}
	return exec.Command("taskset", append([]string{"-c", "1", bin}, args...)...)
}

// serverEnv adds GOMAXPROCS=1 under --pin: the runtime would otherwise
// size itself to the machine, not to the one core it may use.
func serverEnv(env []string) []string {
	if pinServers {
		return append(env, "GOMAXPROCS=1")
	}
	return env
}

// pinSelf moves every thread of this process (and so every thread it
// starts later) to CPU 0.
func pinSelf() error {
	if runtime.NumCPU() < 2 {
		return errors.New("--pin needs at least 2 CPUs")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("--pin needs taskset (util-linux)")
	}
	if out, err := exec.Command("taskset", "-a", "-p", "-c", "0", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	return nil
}

// genDescription is the header's line about the load generator.
func (b *bench) genDescription() string {
	g := "internal/loadgen (raw keep-alive connections, requests encoded once; a goroutine each for a peak, one epoll loop for an open loop)"
	switch b.cfg.gen {
	case genPortable:
		g = "internal/loadgen's portable engine (raw keep-alive connections, a goroutine each)"
	case genVegeta:
		g = "vegeta as a library"
	}
	where := "in this process, on the same cores as the servers"
	if b.cfg.pin {
		where = "in this process on CPU 0; the measured servers on CPU 1 with GOMAXPROCS=1 (--pin)"
	}
	return fmt.Sprintf("load generator (rejection and range paths): %s, %s", g, where)
}

// columnsNote explains the latency and CPU columns of the tables the
// generator drives.
func (b *bench) columnsNote() string {
	from := "each request's scheduled time; \"late\" is the generator's own delay in sending, p99/max ms"
	if b.cfg.gen == genVegeta {
		from = "each request's send (vegeta's own measure); \"late\" is n/a"
	}
	return "(p50/p99/p99.9 count from " + from + ";\nCPU columns are CPU seconds per 1,000 requests: the server's, the bare endpoint's,\nthe generator's in the closed loop and in the open one.)\n\n"
}

// openRate is the open-loop rate after a closed-loop peak: 80% of it, or
// --open-rate.
func (b *bench) openRate(peak run) int {
	if b.cfg.openRate > 0 {
		return b.cfg.openRate
	}
	return max(1, int(0.8*peak.rps()))
}

func (b *bench) openRateName() string {
	if b.cfg.openRate > 0 {
		return fmt.Sprintf("%d req/s (--open-rate)", b.cfg.openRate)
	}
	return "80% of peak"
}

// targetRate names the rate a p99 target is defined at when the run used
// another one.
func (b *bench) targetRate() string {
	if b.cfg.openRate > 0 {
		return " at 80% of peak"
	}
	return ""
}

// p99Target records a p99 target; at a rate --open-rate set it is shown
// but not judged, since the target is defined at 80% of the peak.
func (b *bench) p99Target(ok bool, format string, args ...any) {
	if b.cfg.openRate == 0 {
		b.target(ok, format, args...)
		return
	}
	b.targets = append(b.targets, "info   "+fmt.Sprintf(format, args...))
}
