package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset/internal/pgtest"
)

// TestMain lets the test binary be the Go load balancer, as the bench
// binary is: startProxy runs os.Executable() with "proxy".
func TestMain(m *testing.M) {
	if len(os.Args) >= 4 && os.Args[1] == "proxy" {
		if err := serveProxy(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench proxy:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// needPostgres skips loudly without PostgreSQL's server binaries, and
// fails under CI=true.
func needPostgres(t *testing.T) {
	t.Helper()
	if _, err := pgtest.BinDir(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs Debian's postgresql package: %v", err)
		}
		t.Skipf("\n*** SKIPPING: the --replicas bench needs a PostgreSQL server: %v ***", err)
	}
}

// resultLine matches one line of the --replicas table and captures the
// two rates and their ratio.
var resultLine = regexp.MustCompile(`(?m)^(.{34}) +([0-9.]+) +([0-9.]+) +([0-9.]+|NaN|\+Inf) \|`)

// One tiny --replicas run through each load balancer: it builds the binary,
// starts PostgreSQL, three replicas and the front ends, and measures every
// path on both clusters. benchMain fails when any answer is not the one
// the path measures, so a passing run means every request got it.
func TestReplicasBench_TinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL and three replicas")
	}
	needPostgres(t)
	proxies := []string{"go"}
	if _, err := exec.LookPath("haproxy"); err == nil {
		proxies = append(proxies, "haproxy")
	} else if os.Getenv("CI") == "true" {
		t.Fatal("CI needs Debian's haproxy package")
	} else {
		t.Log("!!! haproxy not found: only the Go reverse proxy is tried !!!")
	}
	for _, proxy := range proxies {
		t.Run(proxy, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := benchMain([]string{"--replicas", "--quick", "--proxy", proxy, "--rounds", "1", "--duration", "200ms",
				"--resets", "3", "--conns", "4", "--request-min-duration", "1ms"}, &out, &errb)
			if err != nil {
				t.Fatalf("bench --replicas: %v\n%s%s", err, out.String(), errb.String())
			}
			got := out.String()
			want := map[string]string{"haproxy": "front end: HAProxy", "go": "front end: a Go reverse proxy"}[proxy]
			if !strings.Contains(got, want) {
				t.Errorf("output does not say which load balancer ran (%q):\n%s", want, got)
			}
			rows := map[string]bool{}
			for _, m := range resultLine.FindAllStringSubmatch(got, -1) {
				name := strings.TrimSpace(m[1])
				one, _ := strconv.ParseFloat(m[2], 64)
				three, _ := strconv.ParseFloat(m[3], 64)
				if one <= 0 || three <= 0 {
					t.Errorf("%s: rates %v and %v; every path answers on both clusters", name, one, three)
				}
				rows[name] = true
			}
			for _, path := range []string{"wrong token, strong password ER352", "auth rejection ER805",
				"successful reset 204 (3/round)", "token request 202 (64 addresses)"} {
				if !rows[path] {
					t.Errorf("no result line for %q in:\n%s", path, got)
				}
			}
		})
	}
}

// The Go load balancer sends requests to its backends in turn, with the
// client's method, path, body and Host.
func TestReplicasBench_RoundRobin(t *testing.T) {
	var backends []string
	hits := make([]int, 3)
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			hits[i]++
			fmt.Fprintf(w, "%d %s %s %s %s", i, r.Method, r.URL.Path, r.Host, b)
		}))
		t.Cleanup(srv.Close)
		backends = append(backends, srv.URL)
	}
	h, err := roundRobin(backends)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(h)
	t.Cleanup(front.Close)
	host := strings.TrimPrefix(front.URL, "http://")
	for n := range 9 {
		req, _ := http.NewRequest("PATCH", front.URL+resetPath, strings.NewReader("body"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("%d PATCH %s %s body", n%3, resetPath, host); string(b) != want {
			t.Fatalf("request %d: backend said %q, want %q", n, b, want)
		}
	}
	if hits[0] != 3 || hits[1] != 3 || hits[2] != 3 {
		t.Errorf("hits %v, want 3 each", hits)
	}
	for _, bad := range [][]string{nil, {"not a url"}} {
		if _, err := roundRobin(bad); err == nil {
			t.Errorf("roundRobin(%q) accepted", bad)
		}
	}
}

// groupCPU adds up a whole PostgreSQL: the postmaster and its backends.
func TestReplicasBench_GroupCPU(t *testing.T) {
	needPostgres(t)
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	own, err := cpuSeconds(pg.Pid())
	if err != nil {
		t.Fatal(err)
	}
	// Work in one kept backend until the group's time exceeds the
	// postmaster's own: the loop ends on the effect.
	conn, err := pgx.Connect(t.Context(), pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	for range 1000 {
		if _, err := conn.Exec(t.Context(), "SELECT count(*) FROM generate_series(1, 300000)"); err != nil {
			t.Fatal(err)
		}
		all, err := groupCPU(pg.Pid())
		if err != nil {
			t.Fatal(err)
		}
		if all > own {
			return
		}
	}
	t.Fatal("the backend's CPU time never showed in the group's")
}
