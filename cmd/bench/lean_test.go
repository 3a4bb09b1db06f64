package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestParseFlags_GenAndPin(t *testing.T) {
	c, err := parseFlags([]string{"--quick"}, io.Discard)
	if err != nil || c.gen != genLean || c.pin {
		t.Fatalf("defaults: gen %q pin %v err %v", c.gen, c.pin, err)
	}
	if c, err := parseFlags([]string{"--gen", "vegeta", "--pin"}, io.Discard); err != nil || c.gen != genVegeta || !c.pin {
		t.Fatalf("--gen vegeta --pin: %+v %v", c, err)
	}
	for _, bad := range [][]string{{"--gen", "wrk"}, {"--pin", "--replicas"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// fourHundred is a real HTTP server answering every request 400 with a
// body, as the bare endpoint does; it counts what it answered.
func fourHundred(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		io.WriteString(w, `{"errors":{"ER000":{"code":"ER000","message":"`+strings.Repeat("x", 300)+`"}}}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), &n
}

func TestDrive_BothGeneratorsCountWhatTheServerAnswered(t *testing.T) {
	base, served := fourHundred(t)
	tgts := []vegeta.Target{{Method: "PATCH", URL: base + resetPath, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"a":"b"}`)}}
	for _, gen := range []string{genLean, genPortable, genVegeta} {
		t.Run(gen, func(t *testing.T) {
			b := &bench{cfg: config{gen: gen}}
			served.Store(0)
			r, err := b.drive(os.Getpid(), tgts, 400, attackOpts{conns: 4, max: 300})
			if err != nil {
				t.Fatal(err)
			}
			if r.n != 300 || served.Load() != 300 || r.wrong != 0 || r.statuses[400] != 300 {
				t.Fatalf("n %d served %d wrong %d statuses %v", r.n, served.Load(), r.wrong, r.statuses)
			}
			if q := r.quantile(0.99); q <= 0 || q < r.quantile(0.5) {
				t.Fatalf("p50 %v p99 %v", r.quantile(0.5), q)
			}
			if (gen != genVegeta) != (r.hist != nil) {
				t.Fatalf("gen %s: histogram %v", gen, r.hist != nil)
			}
			// The wrong status is counted, not hidden.
			r, err = b.drive(os.Getpid(), tgts, 200, attackOpts{conns: 2, max: 50})
			if err != nil {
				t.Fatal(err)
			}
			if r.wrong != 50 {
				t.Fatalf("want 200 against a 400 server: wrong %d of %d", r.wrong, r.n)
			}
		})
	}
}

func TestLeanAttack_OpenLoopReportsItsLateness(t *testing.T) {
	base, served := fourHundred(t)
	tgts := []vegeta.Target{{Method: "GET", URL: base + "/x"}}
	r, err := leanAttack(os.Getpid(), tgts, 400, attackOpts{conns: 4, rate: 400, dur: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.n != 100 || served.Load() != 100 || r.lean == nil || r.lean.Slots != 100 {
		t.Fatalf("n %d served %d", r.n, served.Load())
	}
	if s := genLate(r); s == "n/a" || !strings.Contains(s, "/") {
		t.Fatalf("genLate %q", s)
	}
	if genLate(run{}) != "n/a" {
		t.Fatal("a vegeta run claims a lateness")
	}
	// Two runs merge their histograms.
	m := merge([]run{r, r})
	if m.hist == nil || m.hist.Count() != 200 || m.quantile(1) != r.quantile(1) {
		t.Fatalf("merged %v", m.hist)
	}
}

func TestLeanAttack_RefusesTwoAddresses(t *testing.T) {
	base, _ := fourHundred(t)
	other, _ := fourHundred(t)
	_, err := leanAttack(os.Getpid(), []vegeta.Target{{Method: "GET", URL: base + "/"}, {Method: "GET", URL: other + "/"}}, 400, attackOpts{conns: 1, max: 2})
	if err == nil {
		t.Fatal("targets on two servers accepted")
	}
}

func TestOpenRate_SetRateIsShownNotJudged(t *testing.T) {
	peak := run{n: 1000, wall: time.Second}
	b := &bench{}
	if got := b.openRate(peak); got != 800 {
		t.Fatalf("default open rate %d, want 80%% of 1000", got)
	}
	b.p99Target(false, "p99 at %s", b.openRateName())
	if b.checks != 1 || b.missed != 1 {
		t.Fatalf("at 80%% of peak the p99 target is judged: checks %d missed %d", b.checks, b.missed)
	}
	b = &bench{cfg: config{openRate: 250}}
	if got := b.openRate(peak); got != 250 {
		t.Fatalf("--open-rate 250 gave %d", got)
	}
	b.p99Target(false, "p99 at %s", b.openRateName())
	if b.checks != 0 || b.missed != 0 || len(b.targets) != 1 || !strings.HasPrefix(b.targets[0], "info") || !strings.Contains(b.targets[0], "250 req/s") {
		t.Fatalf("a set rate's p99 was judged: %+v", b)
	}
	if _, err := parseFlags([]string{"--open-rate", "-1"}, io.Discard); err == nil {
		t.Fatal("negative --open-rate accepted")
	}
}
