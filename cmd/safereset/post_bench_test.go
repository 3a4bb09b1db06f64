package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/freeport"
)

// benchBinary is the real binary serving on free ports for a benchmark.
type benchBinary struct {
	base, admin, token string
	pid                int
}

// cpuTime returns the user+system CPU time the process has used so far
// (Linux /proc; 0 elsewhere).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are fields 14 and 15 of the whole line.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ is 100 on Linux
}

func startBenchBinary(b *testing.B, extra ...string) *benchBinary {
	b.Helper()
	bin := binary(b)
	dir := b.TempDir()
	pub, ops := freePortTB(b), freePortTB(b)
	args := append([]string{"serve", "--addr", pub, "--admin-addr", ops, "--data-dir", dir, "--log-level", "warn"}, fastArgs...)
	cmd := exec.Command(bin, append(args, extra...)...)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	s := &benchBinary{base: "http://" + pub, admin: "http://" + ops, pid: cmd.Process.Pid}
	waitReady(b, s.admin, logs.String)
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	return s
}

// freePortTB is freePort for a benchmark.
func freePortTB(b *testing.B) string {
	b.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		b.Fatal(err)
	}
	return addr
}

func (s *benchBinary) adminPost(b *testing.B, path string, in, out any) {
	b.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest("POST", s.admin+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("POST %s: %d %s", path, resp.StatusCode, msg)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPost_Floor drives POST /api/v1/user/reset-password on the real
// binary with limits off from 64 keep-alive connections, half of them for
// known addresses, and reports the rate beside the bound the floor allows
// (64 / 25 ms = 2,560 req/s at the default floor) and the latency
// quantiles. Every answer is acknowledged-durable: its token and mail are
// committed (fsync) before the 202. The 100 ms floor needs a quarter of
// the CPU for its bound, which shows whether the write path keeps up when
// the cores are not the limit.
//
//	go test ./cmd/safereset -run '^$' -bench Post_Floor -benchtime 10000x -count 3
func BenchmarkPost_Floor(b *testing.B) {
	for _, floor := range []time.Duration{25 * time.Millisecond, 100 * time.Millisecond} {
		b.Run(fmt.Sprintf("floor=%v", floor), func(b *testing.B) { benchPostFloor(b, floor) })
	}
}

func benchPostFloor(b *testing.B, floor time.Duration) {
	const conns = 64
	s := startBenchBinary(b, "--rate-request-email", "0", "--rate-ip", "0", "--request-min-duration", floor.String())
	const users = 16
	for i := range users {
		s.adminPost(b, "/admin/v1/users", map[string]string{"emailAddress": fmt.Sprintf("user%d@example.com", i), "password": oldPW}, nil)
	}
	var key struct{ Key string }
	s.adminPost(b, "/admin/v1/apikeys", map[string]string{"name": "bench"}, &key)

	var next atomic.Int64
	lat := make([][]float64, conns)
	errs := make(chan error, conns)
	b.ResetTimer()
	cpu0, self0 := cpuTime(s.pid), cpuTime(os.Getpid())
	start := time.Now()
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				addr := fmt.Sprintf("nobody%d@example.com", i%users)
				if i%2 == 0 {
					addr = fmt.Sprintf("user%d@example.com", i%users)
				}
				ms, err := timePost(client, s.base, key.Key, addr)
				if err != nil {
					errs <- err
					return
				}
				lat[c] = append(lat[c], ms)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu, self := cpuTime(s.pid)-cpu0, cpuTime(os.Getpid())-self0
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(p float64) float64 { return all[int(p*float64(len(all)-1))] }
	rate := float64(len(all)) / elapsed.Seconds()
	bound := conns / floor.Seconds()
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(100*rate/bound, "%bound")
	b.ReportMetric(q(.5), "p50-ms")
	b.ReportMetric(q(.99), "p99-ms")
	// CPU per request of the server and of this load generator: when
	// their sum times the bound exceeds the cores the machine gives them,
	// the rate is bound by CPU, not by the floor or the disk.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "server-cpu-µs/req")
	b.ReportMetric(float64(self.Microseconds())/float64(len(all)), "client-cpu-µs/req")
	b.ReportMetric(0, "ns/op")
}
