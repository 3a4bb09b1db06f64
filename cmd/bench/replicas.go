package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/safereset/safereset/internal/pgtest"

	"github.com/safereset/safereset/internal/loadgen"
)

// cluster is one load-balancer front end and the replicas behind it.
type cluster struct {
	name     string
	proxy    *process
	replicas []*process
}

// replicaBench compares one replica with three on one PostgreSQL. All
// three replicas run the whole time; one front end balances over the
// first only, the other over all three, so rounds alternate between the
// two without restarting anything.
type replicaBench struct {
	cfg       config
	out       io.Writer
	pg        *pgtest.Server
	replicas  []*process
	one, many cluster
	proxyKind string
	key       string
	seq       int // makes the addresses of each reset round unique
}

// replicasMain is `bench --replicas`.
func replicasMain(cfg config, out io.Writer, work string) error {
	b := &replicaBench{cfg: cfg, out: out}
	defer b.stop()
	t0 := time.Now()
	if err := b.setup(work); err != nil {
		return err
	}
	b.header()
	// Resets before the token-request floods: their mails would queue
	// behind thousands of others.
	for _, step := range []func() error{b.rejections, b.resets, b.posts} {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Fprintf(b.out, "\ntotal time %.0fs\n", time.Since(t0).Seconds())
	return nil
}

func (b *replicaBench) stop() {
	for _, p := range []*process{b.one.proxy, b.many.proxy} {
		p.stop()
	}
	for _, p := range b.replicas {
		p.stop()
	}
	if b.pg != nil {
		b.pg.Stop()
	}
}

func (b *replicaBench) setup(work string) error {
	bin, err := buildBinary(work)
	if err != nil {
		return err
	}
	if b.pg, err = pgtest.Start(); err != nil {
		return fmt.Errorf("--replicas needs a PostgreSQL server (Debian's postgresql package): %w", err)
	}
	if err := b.pg.Exec(context.Background(), "CREATE DATABASE bench"); err != nil {
		return err
	}
	url := b.pg.URL("bench")
	if out, err := exec.Command(bin, "migrate", "--database-url", url).CombinedOutput(); err != nil {
		return fmt.Errorf("safereset migrate: %v: %s", err, out)
	}
	for i := range 3 {
		p, err := startSafereset(fmt.Sprintf("replica%d", i), bin, work, "--database-url", url,
			"--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0",
			"--request-min-duration", b.cfg.floor.String())
		if err != nil {
			return err
		}
		b.replicas = append(b.replicas, p)
	}
	b.one = cluster{name: "1 replica", replicas: b.replicas[:1]}
	b.many = cluster{name: "3 replicas", replicas: b.replicas}
	for _, c := range []*cluster{&b.one, &b.many} {
		if c.proxy, b.proxyKind, err = startProxy(b.cfg.proxy, work, fmt.Sprintf("lb%d", len(c.replicas)), c.replicas); err != nil {
			return err
		}
	}
	// Keys and users are in the database: one replica's admin API sets
	// them up for all.
	if b.key, err = b.replicas[0].apiKey("bench"); err != nil {
		return err
	}
	return b.replicas[0].importUsers([]string{"known@example.com"})
}

func (b *replicaBench) header() {
	load, _ := os.ReadFile("/proc/loadavg")
	proxy := map[string]string{"haproxy": "HAProxy (round robin, kept-alive server connections)",
		"go": "a Go reverse proxy in its own process (round robin; HAProxy was not found)"}[b.proxyKind]
	fmt.Fprintf(b.out, "safereset replicas bench (%s), %s, %d CPUs, %s, load average %s\n",
		map[bool]string{true: "--quick", false: "full"}[b.cfg.quick], time.Now().UTC().Format(time.RFC3339),
		runtime.NumCPU(), runtime.Version(), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintf(b.out, "one PostgreSQL (throwaway, fsync off), front end: %s; --request-min-duration %s, limits off,\n"+
		"--hash-concurrency the default (GOMAXPROCS, so 3 replicas hash up to 3 times as many passwords at once)\n", proxy, b.cfg.floor)
	fmt.Fprintf(b.out, "the replicas, PostgreSQL, the proxy and the load generator share the same %d CPUs: three replicas add\n"+
		"no cores here, so expect a 3/1 ratio near 1 (or below, for the extra processes and the proxy's hops).\n", runtime.NumCPU())
	fmt.Fprintf(b.out, "%d rounds of %s per path, 1 and 3 replicas alternating; CPU s/1k is CPU seconds per 1,000 answers,\n"+
		"of the replicas in use (srv) and of those plus PostgreSQL and the proxy (all); p50/p99 from the same closed-loop runs.\n\n",
		b.cfg.rounds, b.cfg.dur)
	fmt.Fprintf(b.out, "%-34s %9s %9s %5s | %15s %15s | %13s %13s | %s\n", "path", "1 rep/s", "3 rep/s", "3/1",
		"p50/p99 ms (1)", "p50/p99 ms (3)", "srv CPU 1/3", "all CPU 1/3", "3-replica CPU split")
}

// cpuOf returns the CPU seconds used so far by each process, by pid.
func cpuOf(pids []int) ([]float64, error) {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		s, err := cpuSeconds(pid)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// groupCPU is the CPU time of the live process root and every process
// below it: PostgreSQL's postmaster and the backends it forked. It follows
// parent ids, not the process group, because each PostgreSQL child calls
// setsid() and leads a group of its own.
func groupCPU(root int) (float64, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	parent := map[int]int{}
	stat := map[int][]byte{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		parent[pid], stat[pid] = ppid, raw
	}
	below := func(pid int) bool {
		for range 64 { // bounded: a pid cycle cannot happen, a deep tree does not here
			if pid == root {
				return true
			}
			p, ok := parent[pid]
			if !ok || p <= 1 {
				return false
			}
			pid = p
		}
		return false
	}
	total := 0.0
	for pid, raw := range stat {
		if !below(pid) {
			continue
		}
		if s, err := loadgen.ParseStat(raw); err == nil {
			total += s
		}
	}
	return total, nil
}

// measured is one attack on a cluster with its CPU accounting.
type measured struct {
	run
	srv, all float64   // CPU seconds
	split    []float64 // CPU seconds per replica
}

func (m measured) per1k(cpu float64) float64 { return cpu / float64(max(m.n, 1)) * 1000 }

// attackCluster runs one attack on a cluster and accounts the CPU of its
// replicas, its proxy and PostgreSQL.
func (b *replicaBench) attackCluster(c cluster, tr func(base string) (run, error)) (measured, error) {
	pids := []int{c.proxy.pid()}
	for _, r := range c.replicas {
		pids = append(pids, r.pid())
	}
	before, err := cpuOf(pids)
	if err != nil {
		return measured{}, err
	}
	pg0, err := groupCPU(b.pg.Pid())
	if err != nil {
		return measured{}, err
	}
	r, err := tr(c.proxy.base)
	if err != nil {
		return measured{}, err
	}
	after, err := cpuOf(pids)
	if err != nil {
		return measured{}, err
	}
	pg1, err := groupCPU(b.pg.Pid())
	if err != nil {
		return measured{}, err
	}
	m := measured{run: r}
	for i := range pids {
		d := after[i] - before[i]
		m.all += d
		if i > 0 {
			m.srv += d
			m.split = append(m.split, d)
		}
	}
	m.all += max(pg1-pg0, 0) // a backend that exited meanwhile takes its time along
	return m, nil
}

// compare runs rounds on both clusters, alternating which goes first, and
// prints one line.
func (b *replicaBench) compare(name string, want int, prepare func(c cluster) (func(base string) (run, error), error)) error {
	var ones, manys []measured
	for round := 0; round < b.cfg.rounds; round++ {
		order := []cluster{b.one, b.many}
		if round%2 == 1 {
			order = []cluster{b.many, b.one}
		}
		for _, c := range order {
			tr, err := prepare(c)
			if err != nil {
				return err
			}
			m, err := b.attackCluster(c, tr)
			if err != nil {
				return err
			}
			if m.wrong > 0 {
				return fmt.Errorf("%s on %s: %d of %d answers were not %d (statuses %v)", name, c.name, m.wrong, m.n+m.wrong, want, m.statuses)
			}
			if err := b.drain(); err != nil {
				return err
			}
			if len(c.replicas) == 1 {
				ones = append(ones, m)
			} else {
				manys = append(manys, m)
			}
		}
	}
	one, many := mergeMeasured(ones), mergeMeasured(manys)
	var split []string
	for _, s := range many.split {
		split = append(split, fmt.Sprintf("%.0f%%", 100*s/max(many.srv, 1e-9)))
	}
	pair := func(a, b string) string { return a + "/" + b }
	fmt.Fprintf(b.out, "%-34s %9.1f %9.1f %5.2f | %15s %15s | %13s %13s | %s\n", name,
		one.rps(), many.rps(), many.rps()/one.rps(),
		pair(ms(one.quantile(0.50)), ms(one.quantile(0.99))), pair(ms(many.quantile(0.50)), ms(many.quantile(0.99))),
		pair(cpu3(one.per1k(one.srv)), cpu3(many.per1k(many.srv))), pair(cpu3(one.per1k(one.all)), cpu3(many.per1k(many.all))),
		strings.Join(split, " "))
	return nil
}

// cpu3 prints CPU seconds with three significant digits.
func cpu3(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

func mergeMeasured(ms []measured) measured {
	var runs []run
	out := measured{}
	for _, m := range ms {
		runs = append(runs, m.run)
		out.srv += m.srv
		out.all += m.all
		if out.split == nil {
			out.split = make([]float64, len(m.split))
		}
		for i, s := range m.split {
			out.split[i] += s
		}
	}
	out.run = merge(runs)
	return out
}

func (b *replicaBench) rejections() error {
	hdr := func(k string) http.Header { return http.Header{"X-Api-Key": {k}, "Content-Type": {"application/json"}} }
	for _, s := range []scenario{
		{name: "wrong token, strong password ER352", method: "PATCH", hdr: hdr(b.key),
			body: patchBody("known@example.com", strongPW, strongPW, randomToken()), want: 400, codes: []string{"ER352"}},
		{name: "auth rejection ER805", method: "PATCH", hdr: hdr("sr_" + strings.Repeat("A", 43)),
			body: patchBody("known@example.com", strongPW, strongPW, randomToken()), want: 401, codes: []string{"ER805"}},
	} {
		for _, c := range []cluster{b.one, b.many} {
			if _, err := probe(c.proxy.base, s); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
		err := b.compare(s.name, s.want, func(cluster) (func(string) (run, error), error) {
			return func(base string) (run, error) {
				return attackCPU(noCPU, static(s.method, base+resetPath, s.hdr, s.body), s.want, attackOpts{conns: b.cfg.conns, dur: b.cfg.dur})
			}, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// resets measures complete resets: each round imports fresh users,
// requests their tokens through the cluster's front end, then resets each
// once with a closed loop of 4 connections per core.
func (b *replicaBench) resets() error {
	hdr := http.Header{"X-Api-Key": {b.key}, "Content-Type": {"application/json"}}
	var dirs []string
	for _, r := range b.replicas {
		dirs = append(dirs, r.dir)
	}
	name := fmt.Sprintf("successful reset 204 (%d/round)", b.cfg.resets)
	return b.compare(name, http.StatusNoContent, func(c cluster) (func(string) (run, error), error) {
		b.seq++
		emails := make([]string, b.cfg.resets)
		for i := range emails {
			emails[i] = fmt.Sprintf("replicas-%d-%d@example.com", b.seq, i)
		}
		if err := b.replicas[0].importUsers(emails); err != nil {
			return nil, err
		}
		toks, err := requestTokens(c.proxy.base, b.key, dirs, emails)
		if err != nil {
			return nil, err
		}
		bs := make([][]byte, len(emails))
		for i, e := range emails {
			bs[i] = patchBody(e, strongPW, strongPW, toks[e])
		}
		return func(base string) (run, error) {
			return attackCPU(noCPU, bodies(base+resetPath, hdr, bs), http.StatusNoContent, attackOpts{conns: 4 * runtime.NumCPU()})
		}, nil
	})
}

// postAddresses is how many known addresses the token requests go round:
// every request for one address locks that user's row, so a single
// address would measure one row lock, not the replicas.
const postAddresses = 64

// posts measures token requests for known addresses: each queues a mail
// (written to the claiming replica's outbox directory), and the outbox is
// drained before the next run so no run pays for the previous one's mails.
func (b *replicaBench) posts() error {
	hdr := http.Header{"X-Api-Key": {b.key}, "Content-Type": {"application/json"}}
	emails := make([]string, postAddresses)
	bs := make([][]byte, postAddresses)
	for i := range emails {
		emails[i] = fmt.Sprintf("post-%d@example.com", i)
		bs[i], _ = json.Marshal(map[string]string{"emailAddress": emails[i]})
	}
	if err := b.replicas[0].importUsers(emails); err != nil {
		return err
	}
	name := fmt.Sprintf("token request 202 (%d addresses)", postAddresses)
	return b.compare(name, http.StatusAccepted, func(cluster) (func(string) (run, error), error) {
		return func(base string) (run, error) {
			return attackCPU(noCPU, roundBodies("POST", base+resetPath, hdr, bs), http.StatusAccepted, attackOpts{conns: b.cfg.conns, dur: b.cfg.dur})
		}, nil
	})
}

// roundBodies returns a targeter that sends the bodies in turn, forever.
func roundBodies(method, url string, hdr http.Header, bs [][]byte) vegeta.Targeter {
	var next atomic.Uint64
	return func(t *vegeta.Target) error {
		*t = vegeta.Target{Method: method, URL: url, Header: hdr, Body: bs[(next.Add(1)-1)%uint64(len(bs))]}
		return nil
	}
}

// noCPU: attackCluster does the CPU accounting of a cluster itself.
func noCPU() (float64, error) { return 0, nil }

// drain waits until the shared outbox is empty (every replica reports the
// same database-wide depth), so mail written after a run does not load the
// next one.
func (b *replicaBench) drain() error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		depth, err := outboxDepth(b.replicas[0].ops)
		if err != nil {
			return err
		}
		if depth == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the outbox still held %v mails after 5 minutes", depth)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outboxDepth reads safereset_mail_outbox_depth from an ops listener.
func outboxDepth(ops string) (float64, error) {
	resp, err := http.Get(ops + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "safereset_mail_outbox_depth "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("no safereset_mail_outbox_depth in /metrics")
}
