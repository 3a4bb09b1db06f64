package main

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// haproxy is a real HAProxy (Debian's /usr/sbin/haproxy) balancing
// round-robin over replicas, started with a generated config on free
// ports.
type haproxy struct {
	Base  string // the balanced front end
	stats string // the CSV stats page
}

// startHAProxy runs HAProxy in front of the replicas until the test ends.
// Without it the test skips (fails under CI=true).
func startHAProxy(t *testing.T, replicas []*testServer) *haproxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy not found; CI installs Debian's haproxy package")
		}
		t.Skip("!!! SKIPPED: haproxy not found (apt-get install haproxy); the replicas were not tested behind a real load balancer !!!")
	}
	front, stats := freePort(t), freePort(t)
	var servers strings.Builder
	for i, r := range replicas {
		fmt.Fprintf(&servers, "    server r%d %s\n", i, strings.TrimPrefix(r.Base, "http://"))
	}
	// http-server-close: one server connection per request, so each
	// request is balanced on its own even over a kept-alive client
	// connection, and the stats count requests.
	cfg := fmt.Sprintf(`global
    maxconn 512
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    option http-server-close
frontend api
    bind %s
    default_backend replicas
backend replicas
    balance roundrobin
%sfrontend stats
    bind %s
    stats enable
    stats uri /stats
`, front, servers.String(), stats)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v: %s", err, out)
	}
	var log syncBuffer
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", log.String())
		}
	})
	h := &haproxy{Base: "http://" + front, stats: "http://" + stats + "/stats;csv"}
	waitFor(t, func() bool {
		resp, err := http.Get(h.stats)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "haproxy to listen")
	return h
}

// requests returns how many requests HAProxy sent to each replica, by
// index.
func (h *haproxy) requests(t *testing.T, n int) []int {
	t.Helper()
	resp, err := http.Get(h.stats)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("haproxy stats: %v (%d rows)", err, len(rows))
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[strings.TrimPrefix(strings.TrimSpace(name), "# ")] = i
	}
	counts := make([]int, n)
	for _, r := range rows[1:] {
		if r[col["pxname"]] != "replicas" || !strings.HasPrefix(r[col["svname"]], "r") {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(r[col["svname"]], "r"))
		if err != nil || i >= n {
			continue
		}
		counts[i], _ = strconv.Atoi(r[col["stot"]])
	}
	return counts
}

// via returns a client for s's API that goes through the load balancer.
func (h *haproxy) via(s *testServer) *testServer {
	c := *s
	c.Base = h.Base
	return &c
}
