// Command bench is the load bench: it builds the real safereset binary,
// starts it on loopback with a fresh data dir next to a bare Fiber
// endpoint, drives both (interleaved A/B rounds; the rejection and range
// paths with internal/loadgen, or vegeta with --gen vegeta; the success and
// POST paths with vegeta) and prints, per path, throughput, latency
// quantiles, server and generator CPU per request and the ratio to the
// bound that path can reach on this machine. See BENCHMARKS.md.
//
//	go run ./cmd/bench --quick   # under a minute
//	go run ./cmd/bench           # the full run, under ten minutes
//	go run ./cmd/bench --range [--quick] [--pin]  # the range API
//	go run ./cmd/bench --replicas [--quick]   # 1 against 3 replicas on PostgreSQL
//
// It never fails on a number: it prints each target as met or missed. It
// exits non-zero only when it cannot measure (build, start or setup failed,
// or a path answered something other than what it is meant to answer).
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/crypto/argon2"

	"github.com/safereset/safereset/password"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "bare" {
		if err := serveBare(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "bench bare:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) >= 4 && os.Args[1] == "proxy" {
		if err := serveProxy(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench proxy:", err)
			os.Exit(1)
		}
		return
	}
	if err := benchMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	quick   bool
	conns   int
	rounds  int
	dur     time.Duration
	resets  int
	floor   time.Duration
	keep    bool
	workDir string

	replicas bool   // compare 1 and 3 replicas on PostgreSQL (replicas.go)
	proxy    string // the replicas' load balancer: auto, haproxy or go
	// rangeOnly runs the range API bench (range.go) instead of the reset
	// paths, on a store of rangePrefixes prefixes.
	rangeOnly     bool
	rangePrefixes int

	gen string // load generator of the rejection and range paths: lean or vegeta
	// openRate, when set, is the open-loop rate of the rejection and range
	// paths instead of 80% of each peak; its p99 is printed, not judged.
	openRate int
	pin      bool // servers on CPU 1 with GOMAXPROCS=1, the generator on CPU 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&c.quick, "quick", false, "short rounds (under a minute in all), for CI")
	fs.IntVar(&c.conns, "conns", 64, "concurrent connections for the closed-loop peak runs")
	fs.IntVar(&c.rounds, "rounds", 0, "A/B rounds per path (default 3, --quick 2)")
	fs.DurationVar(&c.dur, "duration", 0, "length of one run (default 5s, --quick 500ms)")
	fs.IntVar(&c.resets, "resets", 0, "successful resets per round (default 300, --quick 16)")
	fs.DurationVar(&c.floor, "request-min-duration", 25*time.Millisecond, "the server's --request-min-duration (the POST floor)")
	fs.BoolVar(&c.replicas, "replicas", false, "compare 1 and 3 replicas on one PostgreSQL behind a load balancer instead")
	fs.StringVar(&c.proxy, "proxy", "auto", "--replicas load balancer: haproxy, go (a Go reverse proxy), or auto (haproxy when installed)")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory (binary, data dirs, server logs)")
	fs.BoolVar(&c.rangeOnly, "range", false, "bench the range API (GET /range/{prefix} on --range-addr) instead of the reset paths")
	fs.IntVar(&c.rangePrefixes, "range-prefixes", 4096, "with --range, prefixes in the store, 950 hashes each")
	fs.StringVar(&c.gen, "gen", genLean, "load generator for the rejection and range paths: lean (internal/loadgen: a goroutine per connection for a peak, one epoll loop for an open loop), lean-portable (goroutines for both) or vegeta (the cross-check)")
	fs.BoolVar(&c.pin, "pin", false, "run the measured servers on CPU 1 with GOMAXPROCS=1 and the load generator on CPU 0 (needs taskset, 2+ CPUs)")
	fs.IntVar(&c.openRate, "open-rate", 0, "open-loop req/s for the rejection and range paths (default: 80% of each rejection path's peak, 10000 for --range, the rates the targets are set at; another rate's p99 is shown, not judged)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = map[bool]int{false: full, true: quick}[c.quick]
		}
	}
	def(&c.rounds, 3, 2)
	def(&c.resets, 300, 16)
	if c.dur == 0 {
		c.dur = map[bool]time.Duration{false: 5 * time.Second, true: 500 * time.Millisecond}[c.quick]
	}
	if c.gen != genLean && c.gen != genPortable && c.gen != genVegeta {
		return c, fmt.Errorf("--gen must be %s, %s or %s", genLean, genPortable, genVegeta)
	}
	if c.openRate < 0 {
		return c, errors.New("--open-rate must not be negative")
	}
	if c.pin && c.replicas {
		return c, errors.New("--pin is for the single-server benches, not --replicas")
	}
	if c.rangePrefixes < 1 || c.rangePrefixes > 1<<20 {
		return c, errors.New("--range-prefixes must be between 1 and 1048576")
	}
	if c.conns < 1 || c.rounds < 1 || c.resets < 1 || c.dur <= 0 || c.floor <= 0 {
		return c, errors.New("--conns, --rounds, --resets, --duration and --request-min-duration must be positive")
	}
	return c, nil
}

// Targets from issue 12.
const (
	targetRejectRatio = 0.40                  // of the bare endpoint's req/s
	targetP99         = 10 * time.Millisecond // at 80% of the path's peak
	targetSuccess     = 0.90                  // of the argon2id bound
	targetPOST        = 0.90                  // of the floor bound
)

const strongPW = "kDWPe4qf$&mgM26&8hX"

// scenario is one rejection path, compared with the bare endpoint.
type scenario struct {
	name    string
	method  string
	body    []byte
	hdr     http.Header
	want    int
	codes   []string // codes the answer must carry
	limited bool     // runs on the instance whose per-IP limit is spent
}

type bench struct {
	cfg            config
	out            io.Writer
	sr, lim, bare  *process
	key, limKey    string
	targets        []string // "met"/"MISSED" lines for the summary
	missed, checks int
	before         stalls // hostStalls before the servers started
}

func benchMain(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "safereset-bench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Fprintf(stdout, "work directory: %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	if cfg.replicas {
		return replicasMain(cfg, stdout, work)
	}
	b := &bench{cfg: cfg, out: stdout}
	pinServers = cfg.pin
	defer func() {
		b.sr.stop()
		b.lim.stop()
		b.bare.stop()
	}()
	t0 := time.Now()
	// Before any server starts: a starting server's own work (loading the
	// filter, the first requests) would be measured as the host's.
	b.before = hostStalls(b.stallSpin())
	if cfg.rangeOnly {
		b.header()
		if err := b.rangeBench(work); err != nil {
			return err
		}
		b.summary(t0)
		return nil
	}
	if err := b.setup(work); err != nil {
		return err
	}
	b.header()
	if err := b.rejections(); err != nil {
		return err
	}
	if cfg.pin {
		// The success and POST bounds are set by every core of the machine
		// (argon2id on each, 64 connections at the floor); a server held to
		// one core cannot be judged against them.
		fmt.Fprintln(b.out, "\n--pin: the success and POST paths are not run (their bounds assume the server has every core)")
		b.summary(t0)
		return nil
	}
	if err := b.success(); err != nil {
		return err
	}
	if err := b.posts(); err != nil {
		return err
	}
	for _, p := range []*process{b.sr, b.lim} {
		if kib, err := peakRSS(p.pid()); err == nil {
			fmt.Fprintf(b.out, "peak RSS (VmHWM) of %s: %.1f MiB\n", p.name, float64(kib)/1024)
		}
	}
	b.summary(t0)
	return nil
}

func (b *bench) summary(t0 time.Time) {
	// The servers are stopped first: after the POST runs the server still
	// delivers its queued mails, and the probe would measure that.
	b.sr.stop()
	b.lim.stop()
	b.bare.stop()
	fmt.Fprintf(b.out, "\nhost stalls after (servers stopped): %s\n", hostStalls(b.stallSpin()))
	fmt.Fprintf(b.out, "\ntargets: %d of %d met\n", b.checks-b.missed, b.checks)
	for _, l := range b.targets {
		fmt.Fprintln(b.out, "  "+l)
	}
	fmt.Fprintf(b.out, "total time %.0fs\n", time.Since(t0).Seconds())
}

func (b *bench) setup(work string) error {
	bin, err := buildBinary(work)
	if err != nil {
		return err
	}
	floor := b.cfg.floor.String()
	// Limits off on the main instance, so each path measures itself rather
	// than the limiter's answer; the second instance allows one request per
	// IP an hour, so every request after the first is the per-IP refusal.
	//
	// Both raise the per-client connection cap (256 by default): the
	// server counts a connection until it reads its EOF, so right after a
	// closed-loop run at 64 connections an open-loop run that opens up to
	// 200 can briefly pass 256, and the cap's refusal (a transport error
	// here) would be counted against the path under test. The cap has its
	// own tests; this measures the requests.
	capFlag := []string{"--max-conns-per-ip", "1024"}
	if b.sr, err = startSafereset("safereset", bin, work, append(capFlag, "--rate-ip", "0", "--rate-request-email", "0",
		"--rate-reset-email", "0", "--request-min-duration", floor)...); err != nil {
		return err
	}
	if b.lim, err = startSafereset("safereset-limited", bin, work, append(capFlag, "--rate-ip", "1-H", "--request-min-duration", floor)...); err != nil {
		return err
	}
	if b.bare, err = startBare(); err != nil {
		return err
	}
	if b.key, err = b.sr.apiKey("bench"); err != nil {
		return err
	}
	if b.limKey, err = b.lim.apiKey("bench"); err != nil {
		return err
	}
	if err := b.sr.importUsers([]string{"known@example.com"}); err != nil {
		return err
	}
	if b.cfg.pin {
		return pinSelf()
	}
	return nil
}

func (b *bench) header() {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(b.out, "safereset load bench (%s), %s, %d CPUs, GOMAXPROCS %d, %s, load average %s",
		map[bool]string{true: "--quick", false: "full"}[b.cfg.quick], time.Now().UTC().Format(time.RFC3339),
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintf(b.out, "\n%s;\n%d connections, %d rounds of %s per path; the success and POST paths use vegeta\n",
		b.genDescription(), b.cfg.conns, b.cfg.rounds, b.cfg.dur)
	fmt.Fprintf(b.out, "host stalls before (no server started yet): %s\n\n", b.before)
}

// stallSpin is how long hostStalls spins at the start and the end.
func (b *bench) stallSpin() time.Duration {
	if b.cfg.quick {
		return 500 * time.Millisecond
	}
	return 3 * time.Second
}

func randomToken() string {
	var t [16]byte
	rand.Read(t[:])
	return hex.EncodeToString(t[:])
}

func patchBody(email, pw, verify, token string) []byte {
	j, _ := json.Marshal(map[string]string{"emailAddress": email, "password": pw, "passwordVerify": verify, "token": token})
	return j
}

func (b *bench) scenarios() []scenario {
	key := func(k string) http.Header {
		return http.Header{"X-Api-Key": {k}, "Content-Type": {"application/json"}}
	}
	return []scenario{
		{name: "auth rejection ER805", method: "PATCH", hdr: key("sr_" + strings.Repeat("A", 43)),
			body: patchBody("known@example.com", strongPW, strongPW, randomToken()), want: 401, codes: []string{"ER805"}},
		{name: "validation ER001/ER122/ER350", method: "PATCH", hdr: key(b.key),
			body: patchBody("not-an-address", "short", "other", randomToken()), want: 400, codes: []string{"ER001", "ER122", "ER350"}},
		{name: "breached password ER349", method: "PATCH", hdr: key(b.key),
			body: patchBody("known@example.com", "password1", "password1", randomToken()), want: 400, codes: []string{"ER349"}},
		{name: "wrong token, strong password ER352", method: "PATCH", hdr: key(b.key),
			body: patchBody("known@example.com", strongPW, strongPW, randomToken()), want: 400, codes: []string{"ER352"}},
		{name: "per-IP limited ER429", method: "PATCH", hdr: key(b.limKey), limited: true,
			body: patchBody("known@example.com", strongPW, strongPW, randomToken()), want: 429, codes: []string{"ER429"}},
	}
}

const resetPath = "/api/v1/user/reset-password"

// probe sends one request and checks the answer is the one the path is
// meant to measure; it returns the body's size for the bare endpoint.
func probe(base string, s scenario) (int, error) {
	var body []byte
	tries := 1
	if s.limited {
		tries = 2 // the first request spends the instance's one allowed request
	}
	for i := 0; i < tries; i++ {
		req, _ := http.NewRequest(s.method, base+resetPath, bytes.NewReader(s.body))
		req.Header = s.hdr.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if i == tries-1 && resp.StatusCode != s.want {
			return 0, fmt.Errorf("%s: status %d, want %d: %s", s.name, resp.StatusCode, s.want, body)
		}
	}
	var env struct{ Errors map[string]json.RawMessage }
	json.Unmarshal(body, &env)
	for _, c := range s.codes {
		if _, ok := env.Errors[c]; !ok {
			return 0, fmt.Errorf("%s: answer lacks %s: %s", s.name, c, body)
		}
	}
	return len(body), nil
}

func (b *bench) target(ok bool, format string, args ...any) {
	b.checks++
	word := "met   "
	if !ok {
		word = "MISSED"
		b.missed++
	}
	b.targets = append(b.targets, word+" "+fmt.Sprintf(format, args...))
}

func (b *bench) checkWrong(name string, r run) error {
	if r.wrong > 0 {
		return fmt.Errorf("%s: %d of %d answers were not the path under test (statuses %v)", name, r.wrong, r.n+r.wrong, r.statuses)
	}
	return nil
}

func (b *bench) rejections() error {
	fmt.Fprintf(b.out, "Rejection paths: closed loop at %d connections for the peak (A/B interleaved with the bare endpoint),\nthen an open-loop run at %s for the latency quantiles.\n\n", b.cfg.conns, b.openRateName())
	fmt.Fprint(b.out, b.columnsNote())
	fmt.Fprintf(b.out, "%-36s %9s %9s %7s | %7s %7s %7s %11s | %9s %9s %9s\n", "path", "req/s", "bare", "ratio", "p50 ms", "p99 ms", "p99.9", "late", "CPU s/1k", "bare CPU", "gen closed/open")
	var others []string
	defer func() { printOthers(b.out, others) }()
	for _, s := range b.scenarios() {
		p := b.sr
		if s.limited {
			p = b.lim
		}
		size, err := probe(p.base, s)
		if err != nil {
			return err
		}
		srT := []vegeta.Target{{Method: s.method, URL: p.base + resetPath, Header: s.hdr, Body: s.body}}
		bareT := []vegeta.Target{{Method: s.method, URL: fmt.Sprintf("%s%s?n=%d", b.bare.base, resetPath, size), Header: s.hdr, Body: s.body}}
		closed := attackOpts{conns: b.cfg.conns, dur: b.cfg.dur}
		sr, bare, err := interleaved(b.cfg.rounds,
			func() (run, error) { return b.drive(p.pid(), srT, s.want, closed) },
			func() (run, error) { return b.drive(b.bare.pid(), bareT, 400, closed) })
		if err != nil {
			return err
		}
		if err := b.checkWrong(s.name, sr); err != nil {
			return err
		}
		at80, err := b.drive(p.pid(), srT, s.want, attackOpts{conns: b.cfg.conns, rate: b.openRate(sr), dur: b.cfg.dur})
		if err != nil {
			return err
		}
		if err := b.checkWrong(s.name+" at 80%", at80); err != nil {
			return err
		}
		ratio := sr.rps() / bare.rps()
		others = append(others, fmt.Sprintf("%s: %s", s.name, at80.others))
		fmt.Fprintf(b.out, "%-36s %9.0f %9.0f %6.0f%% | %7s %7s %7s %11s | %9.3f %9.3f %7.4f/%.4f\n", s.name, sr.rps(), bare.rps(), 100*ratio,
			ms(at80.quantile(0.50)), ms(at80.quantile(0.99)), ms(at80.quantile(0.999)), genLate(at80), sr.cpuPer1k(), bare.cpuPer1k(), sr.genCPUPer1k(), at80.genCPUPer1k())
		b.target(ratio >= targetRejectRatio, "%s: %.0f%% of bare (target >= %.0f%%)", s.name, 100*ratio, 100*targetRejectRatio)
		b.p99Target(at80.quantile(0.99) < targetP99, "%s: p99 %s ms at %s (target < %s ms%s)", s.name, ms(at80.quantile(0.99)), b.openRateName(), ms(targetP99), b.targetRate())
	}
	return nil
}

// hashTime is the median time of one argon2id hash with the server's
// default parameters, computed here on one core.
func hashTime(n int) time.Duration {
	p := password.DefaultParams
	salt := make([]byte, p.SaltLen)
	ts := make([]time.Duration, n)
	for i := range ts {
		t := time.Now()
		argon2.IDKey([]byte(strongPW), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
		ts[i] = time.Since(t)
	}
	slices.Sort(ts)
	return ts[n/2]
}

// parallelHashRate is how many argon2id hashes per second this machine
// computes with one goroutine per core, each hashing n times: the bound
// with memory bandwidth shared the way the server shares it.
func parallelHashRate(n int) float64 {
	p := password.DefaultParams
	cores := runtime.NumCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < cores; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			salt := make([]byte, p.SaltLen)
			for i := 0; i < n; i++ {
				argon2.IDKey([]byte(strongPW), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
			}
		}()
	}
	wg.Wait()
	return float64(cores*n) / time.Since(start).Seconds()
}
