package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// toxiproxy is a real toxiproxy-server (github.com/Shopify/toxiproxy,
// whose `go install` names the binary `server`) with one proxy in front
// of an upstream, driven through its HTTP API on a free port.
type toxiproxy struct {
	api    string
	Listen string // where clients connect instead of the upstream
}

func toxiproxyBinary() string {
	if p, err := exec.LookPath("toxiproxy-server"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "server")
	if out, err := exec.Command(p, "-version").CombinedOutput(); err == nil && strings.Contains(string(out), "toxiproxy") {
		return p
	}
	return ""
}

// startToxiproxy proxies upstream (host:port) until the test ends. Without
// toxiproxy the test skips (fails under CI=true).
func startToxiproxy(t *testing.T, upstream string) *toxiproxy {
	t.Helper()
	bin := toxiproxyBinary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("toxiproxy server not found; scripts/install-test-deps.sh installs it")
		}
		t.Skip("!!! SKIPPED: toxiproxy server not found (scripts/install-test-deps.sh); the database outage was not injected !!!")
	}
	api := freePort(t)
	host, port, _ := strings.Cut(api, ":")
	var log syncBuffer
	cmd := exec.Command(bin, "-host", host, "-port", port)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start toxiproxy: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("toxiproxy output:\n%s", log.String())
		}
	})
	p := &toxiproxy{api: "http://" + api, Listen: freePort(t)}
	waitFor(t, func() bool {
		resp, err := http.Get(p.api + "/version")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "toxiproxy's API")
	p.call(t, "POST", "/proxies", map[string]any{"name": "db", "listen": p.Listen, "upstream": upstream, "enabled": true}, http.StatusCreated)
	return p
}

func (p *toxiproxy) call(t *testing.T, method, path string, body any, want int) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, p.api+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("toxiproxy %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var msg bytes.Buffer
		msg.ReadFrom(resp.Body)
		t.Fatalf("toxiproxy %s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, msg.String())
	}
}

// SetEnabled takes the link down (every connection dropped, new ones
// refused) or brings it back.
func (p *toxiproxy) SetEnabled(t *testing.T, on bool) {
	t.Helper()
	p.call(t, "POST", "/proxies/db", map[string]any{"enabled": on}, http.StatusOK)
}
