package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// startProxy puts a round-robin load balancer in front of the replicas:
// HAProxy when kind is "haproxy", or "auto" and haproxy is on PATH; else
// this program again as a small Go reverse proxy. It runs in its own
// process either way, so its CPU time is measured like a server's.
func startProxy(kind, work, name string, replicas []*process) (*process, string, error) {
	if kind == "auto" {
		kind = "go"
		if _, err := exec.LookPath("haproxy"); err == nil {
			kind = "haproxy"
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	var cmd *exec.Cmd
	switch kind {
	case "haproxy":
		bin, err := exec.LookPath("haproxy")
		if err != nil {
			return nil, "", errors.New("--proxy haproxy: haproxy not found (apt-get install haproxy)")
		}
		path := filepath.Join(work, name+".cfg")
		if err := os.WriteFile(path, []byte(haproxyConfig(addr, replicas)), 0o600); err != nil {
			return nil, "", err
		}
		if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("haproxy -c: %v: %s", err, out)
		}
		cmd = exec.Command(bin, "-db", "-f", path)
	case "go":
		self, err := os.Executable()
		if err != nil {
			return nil, "", err
		}
		args := []string{"proxy", addr}
		for _, r := range replicas {
			args = append(args, r.base)
		}
		cmd = exec.Command(self, args...)
	default:
		return nil, "", fmt.Errorf("--proxy %q: want auto, haproxy or go", kind)
	}
	logf, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		return nil, "", err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, "", err
	}
	p := &process{name: name, cmd: cmd, base: "http://" + addr, log: logf}
	p.watch()
	if err := waitListening(addr, p); err != nil {
		p.stop()
		return nil, "", fmt.Errorf("%s: %v (log: %s)", name, err, logf.Name())
	}
	return p, kind, nil
}

// haproxyConfig balances requests round-robin over kept-alive server
// connections: each request is balanced on its own, and no request pays
// for a new connection to its replica.
func haproxyConfig(addr string, replicas []*process) string {
	var servers strings.Builder
	for i, r := range replicas {
		fmt.Fprintf(&servers, "    server r%d %s\n", i, strings.TrimPrefix(r.base, "http://"))
	}
	return fmt.Sprintf(`global
    maxconn 2048
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend api
    bind %s
    default_backend replicas
backend replicas
    balance roundrobin
%s`, addr, servers.String())
}

// waitListening dials addr until it accepts, the process exits, or 60 s pass.
func waitListening(addr string, p *process) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return errors.New("exited during start")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(30 * time.Millisecond)
	}
	return errors.New("not listening within 60s")
}

// serveProxy is the Go load balancer: requests go to the backends in turn.
func serveProxy(addr string, backends []string) error {
	h, err := roundRobin(backends)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// roundRobin returns a reverse proxy that sends each request to the next
// backend (base URLs), over kept-alive connections.
func roundRobin(backends []string) (http.Handler, error) {
	if len(backends) == 0 {
		return nil, errors.New("no backends")
	}
	urls := make([]*url.URL, len(backends))
	for i, b := range backends {
		u, err := url.Parse(b)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("backend %q: not a base URL", b)
		}
		urls[i] = u
	}
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			u := urls[(next.Add(1)-1)%uint64(len(urls))]
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true},
	}, nil
}
