package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/safereset/safereset/metrics/prometheustest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the real safereset binary once per test run.
func binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "safereset-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "safereset")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			t.Logf("%s", out)
		}
	})
	if binErr != nil {
		t.Fatalf("build binary: %v", binErr)
	}
	return binPath
}

// proc is the real binary running `serve`.
type proc struct {
	*testServer
	cmd *exec.Cmd
}

func startBinary(t *testing.T, dataDir string, extra ...string) *proc {
	t.Helper()
	bin := binary(t)
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	pub, ops := freePort(t), freePort(t)
	args := append([]string{"serve", "--addr", pub, "--admin-addr", ops, "--data-dir", dataDir}, fastArgs...)
	cmd := exec.Command(bin, append(args, extra...)...)
	logBuf := &syncBuffer{}
	cmd.Stderr = logBuf
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{testServer: &testServer{t: t, Base: "http://" + pub, Admin: "http://" + ops, DataDir: dataDir, Log: logBuf, stopped: true}, cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitReady(t, p.Admin, logBuf.String)
	tok, _ := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	p.Token = strings.TrimSpace(string(tok))
	return p
}

// signal sends sig and, for SIGTERM, waits for the exit code.
func (p *proc) term(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("no exit within 60s of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

// responses returns the value of safereset_responses_total for route and code.
func responses(t *testing.T, opsBase, route, code string) float64 {
	t.Helper()
	resp, err := http.Get(opsBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	want := `safereset_responses_total{code="` + code + `",route="` + route + `"} `
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			var f float64
			json.Unmarshal([]byte(v), &f)
			return f
		}
	}
	t.Fatalf("no series %s", want)
	return 0
}

// TestBinary_MetricsAndPrometheus: the real binary's counters move for each
// code driven through it, /metrics is only on the ops listener, promtool
// accepts the live exposition, and a real Prometheus scrapes it.
func TestBinary_MetricsAndPrometheus(t *testing.T) {
	p := startBinary(t, "", "--rate-reset-email", "2-H")
	p.addUser(alice, oldPW)
	key := p.apiKey("metrics")

	before := map[string]float64{}
	drive := []struct {
		route, code string
		do          func()
	}{
		{"request", "OK", func() { p.post(key, alice) }},
		{"request", "ER802", func() { p.do("POST", "/api/v1/user/reset-password", nil, `{}`) }},
		{"request", "ER001", func() { p.post(key, "nope") }},
		{"reset", "ER352", func() { p.patch(key, bob, strongPW, strongPW, strings.Repeat("0", 32)) }},
		{"reset", "ER349", func() { p.patch(key, bob, "password1", "password1", "") }},
		{"reset", "ER429", func() { p.patch(key, bob, strongPW, strongPW, strings.Repeat("0", 32)) }},
		{"reset", "ER805", func() { p.patch("sr_"+strings.Repeat("B", 43), bob, strongPW, strongPW, "x") }},
	}
	for _, d := range drive {
		before[d.route+d.code] = responses(t, p.Admin, d.route, d.code)
	}
	for _, d := range drive {
		d.do()
	}
	for _, d := range drive {
		if got := responses(t, p.Admin, d.route, d.code); got != before[d.route+d.code]+1 {
			t.Errorf("%s %s: %v -> %v, want +1", d.route, d.code, before[d.route+d.code], got)
		}
	}
	if got := responses(t, p.Admin, "reset", "ER999"); got != 0 {
		t.Errorf("ER999 = %v", got)
	}
	if resp, err := http.Get(p.Base + "/metrics"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("/metrics on the public listener: %v %v", resp.StatusCode, err)
	}

	// promtool on the live exposition.
	promtool := prometheustest.RequireBinary(t, "promtool")
	resp, _ := http.Get(p.Admin + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	// The API key's name is the client identity in metrics (issue 4).
	if !bytes.Contains(body, []byte(`safereset_client_requests_total{client="apikey:metrics",route="reset"}`)) {
		t.Error("no per-client series for the API key")
	}
	// No secret in any label.
	for _, secret := range []string{alice, key, oldPW, strongPW} {
		if bytes.Contains(body, []byte(secret)) {
			t.Fatalf("metrics output contains a secret")
		}
	}

	// A real Prometheus scraping the real binary.
	prom := prometheustest.Start(t, strings.TrimPrefix(p.Admin, "http://"), prometheustest.Options{RuleFiles: []string{"../../metrics/alerts.yml"}})
	want := responses(t, p.Admin, "reset", "ER352")
	prom.WaitForValue(t, `safereset_responses_total{route="reset",code="ER352"}`, func(v string) bool {
		var f float64
		json.Unmarshal([]byte(v), &f)
		return f == want
	})
	for _, r := range prom.WaitForRules(t) {
		if r.Health != "ok" {
			t.Errorf("rule %s: health %s", r.Name, r.Health)
		}
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d", code)
	}
}

// TestBinary_GracefulShutdown: SIGTERM lets an in-flight reset finish
// (argon2id made slow on purpose) and exits 0; the reset is kept.
func TestBinary_GracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	p := startBinary(t, dir, "--argon2-memory", "65536", "--argon2-time", "8", "--hash-concurrency", "1")
	p.addUser(alice, oldPW)
	key := p.apiKey("term")
	p.post(key, alice)
	tok := p.waitToken(alice, 1)

	// Start a reset, and send SIGTERM once the server has taken it: the
	// request is in flight while the hash is computed.
	res := make(chan int, 1)
	go func() {
		b, _ := json.Marshal(map[string]string{"emailAddress": alice, "password": strongPW, "passwordVerify": strongPW, "token": tok})
		req, _ := http.NewRequest("PATCH", p.Base+"/api/v1/user/reset-password", bytes.NewReader(b))
		req.Header.Set("X-Api-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- -1
			return
		}
		resp.Body.Close()
		res <- resp.StatusCode
	}()
	// Wait until the hash is in flight (the gauge says so), then terminate.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(metricLine(t, p.Admin, "safereset_password_hash_in_flight"), " 1") {
		if time.Now().After(deadline) {
			t.Fatal("reset never reached the hasher")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code %d; log:\n%s", code, p.Log.String())
	}
	if st := <-res; st != 204 {
		t.Fatalf("in-flight reset got %d, want 204", st)
	}
	// The acknowledged reset survived.
	p2 := startBinary(t, dir)
	if !p2.verify(alice, strongPW) {
		t.Fatal("acknowledged reset lost")
	}
	p2.term(t)
}

func metricLine(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name+" ") {
			return sc.Text()
		}
	}
	return ""
}

// TestBinary_MemoryUnderFlood: 200 concurrent valid resets at the default
// argon2id cost keep the process's peak resident memory below
// hash-concurrency × argon2 memory + 100 MiB: the semaphore queues the
// hashes instead of running them all at once.
func TestBinary_MemoryUnderFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 200 argon2id hashes at 19 MiB")
	}
	const (
		n        = 200
		conc     = 2
		argonKiB = 19456
	)
	p := startBinary(t, "", "--argon2-memory", "19456", "--argon2-time", "2", "--hash-concurrency", "2",
		"--rate-ip", "0", "--rate-reset-email", "0")
	key := p.apiKey("flood")
	// Users arrive with an existing (cheap) bcrypt hash so setup hashes nothing.
	var lines strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&lines, `{"emailAddress":"flood%d@example.com","passwordHash":"$2a$04$4M1pj1pO6WGrJ2SP8ZCvMOpJ9sS3e4Xk3MiM3vVIv4ZKpd8WhT/1S"}`+"\n", i)
	}
	var res struct{ Imported int }
	req, _ := http.NewRequest("POST", p.Admin+"/admin/v1/users/import", strings.NewReader(lines.String()))
	req.Header.Set("Authorization", "Bearer "+p.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if res.Imported != n {
		t.Fatalf("imported %d", res.Imported)
	}
	tokens := make([]string, n)
	for i := range tokens {
		p.post(key, fmt.Sprintf("flood%d@example.com", i))
	}
	for i := range tokens {
		tokens[i] = p.waitToken(fmt.Sprintf("flood%d@example.com", i), 1)
	}
	before := procStatus(t, p.cmd.Process.Pid, "VmHWM")

	bodies := make([]map[string]string, n)
	for i := range bodies {
		bodies[i] = map[string]string{"emailAddress": fmt.Sprintf("flood%d@example.com", i),
			"password": strongPW, "passwordVerify": strongPW, "token": tokens[i]}
	}
	codes := concurrentPatches(t, p.Base, key, bodies)
	for i, c := range codes {
		if c != 204 {
			t.Fatalf("reset %d: status %d", i, c)
		}
	}
	peak := procStatus(t, p.cmd.Process.Pid, "VmHWM")
	limit := int64(conc*argonKiB + 100*1024)
	t.Logf("peak RSS %d KiB before the flood, %d KiB after (limit %d KiB)", before, peak, limit)
	if peak > limit {
		t.Fatalf("peak RSS %d KiB over %d KiB", peak, limit)
	}
	p.term(t)
}

// procStatus reads a KiB value such as VmHWM from /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib)
			return kib
		}
	}
	t.Fatalf("%s not in /proc/%d/status", field, pid)
	return 0
}
