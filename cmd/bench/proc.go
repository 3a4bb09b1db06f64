package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/safereset/safereset/internal/freeport"
	"github.com/safereset/safereset/internal/loadgen"
)

// cpuSeconds returns the user + system CPU time a process has used.
func cpuSeconds(pid int) (float64, error) { return loadgen.ProcessCPU(pid) }

// peakRSS returns a process's peak resident memory (VmHWM) in KiB.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

func freeAddr() (string, error) { return freeport.Addr() }

// process is a server the bench started and measures.
type process struct {
	name string
	cmd  *exec.Cmd
	base string // http://host:port of the listener under load
	ops  string // ops listener (safereset only)
	dir  string // data dir (safereset only)
	tok  string // admin token (safereset only)
	log  *os.File
	done chan struct{} // closed when the process has exited
}

func (p *process) watch() {
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.done) }()
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
	if p.log != nil {
		p.log.Close()
	}
}

// buildBinary builds ./cmd/safereset of the module the bench runs in.
func buildBinary(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "", errors.New("run the bench from inside the safereset module (go run ./cmd/bench)")
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "bin", "safereset")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/safereset")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/safereset: %v\n%s", err, b)
	}
	return bin, nil
}

// startSafereset runs the real binary on loopback with a fresh data dir.
func startSafereset(name, bin, work string, extra ...string) (*process, error) {
	pub, err := freeAddr()
	if err != nil {
		return nil, err
	}
	ops, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--addr", pub, "--admin-addr", ops, "--data-dir", dir, "--log-format", "json"}, extra...)
	cmd := serverCommand(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = serverEnv([]string{"PATH=" + os.Getenv("PATH")})
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &process{name: name, cmd: cmd, base: "http://" + pub, ops: "http://" + ops, dir: dir, log: logf}
	p.watch()
	if err := waitReady(p.ops+"/readyz", p); err != nil {
		p.stop()
		return nil, fmt.Errorf("%s: %v (log: %s)", name, err, logf.Name())
	}
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		p.stop()
		return nil, err
	}
	p.tok = strings.TrimSpace(string(tok))
	return p, nil
}

// startBare runs this program again as the bare Fiber endpoint, in its own
// process so its CPU time is measured the same way as the server's.
func startBare() (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := serverCommand(self, "bare", addr)
	cmd.Env = serverEnv(os.Environ())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{name: "bare", cmd: cmd, base: "http://" + addr}
	p.watch()
	if err := waitReady(p.base+"/ready", p); err != nil {
		p.stop()
		return nil, fmt.Errorf("bare endpoint: %v", err)
	}
	return p, nil
}

// waitReady polls url until it answers 200, the process exits, or 60 s pass.
func waitReady(url string, p *process) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("exited during start")
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	return errors.New("not ready within 60s")
}

// admin calls the safereset admin API.
func (p *process) admin(method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequest(method, p.ops+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+p.tok)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("admin %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (p *process) apiKey(name string) (string, error) {
	b, _ := json.Marshal(map[string]string{"name": name})
	var out struct{ Key string }
	if err := p.admin("POST", "/admin/v1/apikeys", "application/json", b, &out); err != nil {
		return "", err
	}
	return out.Key, nil
}

// importUsers creates users with a cheap bcrypt hash, so setting them up
// costs no argon2id time.
func (p *process) importUsers(emails []string) error {
	const cheap = "$2a$04$4M1pj1pO6WGrJ2SP8ZCvMOpJ9sS3e4Xk3MiM3vVIv4ZKpd8WhT/1S"
	var lines bytes.Buffer
	for _, e := range emails {
		b, _ := json.Marshal(map[string]string{"emailAddress": e, "passwordHash": cheap})
		lines.Write(b)
		lines.WriteByte('\n')
	}
	var out struct{ Imported int }
	if err := p.admin("POST", "/admin/v1/users/import", "application/x-ndjson", lines.Bytes(), &out); err != nil {
		return err
	}
	if out.Imported != len(emails) {
		return fmt.Errorf("imported %d of %d users", out.Imported, len(emails))
	}
	return nil
}
