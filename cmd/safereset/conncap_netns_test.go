package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The connection cap is tested from many source addresses, which only a
// network namespace of the test's own can give: the test re-runs itself
// under `unshare -rn` (a user and network namespace; no privileges
// needed), puts addresses of two IPv6 /64s and several IPv4 addresses on
// its loopback, and drives the real binary there.
//
// Where namespaces cannot be made (no unshare, user namespaces disabled)
// the test skips loudly. Under CI=true it fails instead when running as
// root, where unshare always works; unprivileged CI runners may forbid
// user namespaces, and there it skips.
const netnsEnv = "SAFERESET_CONNCAP_NETNS"

// TestConnCap_PerClientNetns: with --max-conns-per-ip 4, on both listeners,
// 40 addresses of one IPv6 /64 together hold only 4 connections (a
// neighbouring /64 has its own 4), and one IPv4 address holds 4 while the
// next address has its own.
func TestConnCap_PerClientNetns(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		bin := binary(t) // built here: the namespace has no network for the module proxy
		unshare, err := exec.LookPath("unshare")
		if err == nil {
			_, err = exec.LookPath("ip")
		}
		if err == nil {
			err = exec.Command(unshare, "-rn", "true").Run()
		}
		if err != nil {
			msg := fmt.Sprintf("NETWORK NAMESPACE UNAVAILABLE (unshare -rn / ip): %v — the IPv6 /64 connection cap is NOT tested", err)
			if os.Getenv("CI") == "true" && os.Geteuid() == 0 {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		cmd := exec.Command(unshare, "-rn", os.Args[0], "-test.run=^TestConnCap_PerClientNetns$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), netnsEnv+"="+bin)
		out, err := cmd.CombinedOutput()
		t.Logf("in the namespace:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestConnCap_PerClientNetns") {
			t.Fatalf("the test in the namespace failed: %v", err)
		}
		return
	}

	// Inside the namespace.
	setup := [][]string{{"link", "set", "lo", "up"}}
	for i := 1; i <= 40; i++ {
		setup = append(setup, []string{"-6", "addr", "add", fmt.Sprintf("2001:db8:aa:1::%x/64", i), "dev", "lo", "nodad"})
	}
	setup = append(setup, []string{"-6", "addr", "add", "2001:db8:aa:2::1/64", "dev", "lo", "nodad"})
	for _, args := range setup {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	const maxConns = 4
	pub, ops := freePort(t), freePort(t)
	_, pubPort, _ := net.SplitHostPort(pub)
	_, opsPort, _ := net.SplitHostPort(ops)
	cmd := exec.Command(os.Getenv(netnsEnv), append([]string{"serve", "--addr", "[::]:" + pubPort, "--admin-addr", "[::]:" + opsPort,
		"--data-dir", t.TempDir(), "--max-conns-per-ip", fmt.Sprint(maxConns), "--rate-ip", "0"}, fastArgs...)...)
	log := &syncBuffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + opsPort + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, "the binary to listen")

	for _, l := range []struct{ name, host, port, path string }{
		{"public", "2001:db8:aa:1::1", pubPort, "/api/v1/doc.json"},
		{"ops", "2001:db8:aa:1::1", opsPort, "/healthz"},
	} {
		t.Run(l.name, func(t *testing.T) {
			server := net.JoinHostPort(l.host, l.port)
			var held []net.Conn
			t.Cleanup(func() {
				for _, c := range held {
					c.Close()
				}
			})
			served := 0
			for i := 1; i <= 40; i++ {
				if c, ok := served1(t, fmt.Sprintf("2001:db8:aa:1::%x", i), server, l.path); ok {
					held, served = append(held, c), served+1
				}
			}
			if served != maxConns {
				t.Fatalf("40 addresses of one /64 were served on %d connections, want %d", served, maxConns)
			}
			c, ok := served1(t, "2001:db8:aa:2::1", server, l.path)
			if !ok {
				t.Fatal("another /64 was refused: it has its own budget")
			}
			held = append(held, c)

			v4 := net.JoinHostPort("127.0.0.1", l.port)
			served = 0
			for range maxConns + 3 {
				if c, ok := served1(t, "127.0.0.2", v4, l.path); ok {
					held, served = append(held, c), served+1
				}
			}
			if served != maxConns {
				t.Fatalf("one IPv4 address was served on %d connections, want %d", served, maxConns)
			}
			if c, ok := served1(t, "127.0.0.3", v4, l.path); !ok {
				t.Fatal("another IPv4 address was refused: it has its own budget")
			} else {
				held = append(held, c)
			}
		})
	}
	if cmd.ProcessState != nil {
		t.Fatalf("binary exited:\n%s", log.String())
	}
}

// served1 opens a keep-alive connection from local to server, sends one
// GET and reports whether it was answered 200; the connection stays open
// for the caller to hold. A connection over the cap is answered 429 and
// closed at once, which the read sees without waiting.
func served1(t *testing.T, local, server, path string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", server)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", server, local, err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second)) // a hang is a failure, not a measurement
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		c.Close()
		return nil, false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, false
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		c.Close()
		return nil, false
	}
	c.SetDeadline(time.Time{})
	return c, true
}
