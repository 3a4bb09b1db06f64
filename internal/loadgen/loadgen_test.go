package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpServer starts a real net/http server on a free loopback port.
func httpServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// rawServer accepts connections on a free loopback port and hands each to
// serve, for answers net/http would never send.
func rawServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

// readRequest reads one request head (the generator's GETs have no body).
func readRequest(r *bufio.Reader) error {
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if l == "\r\n" {
			return nil
		}
	}
}

func encode(t *testing.T, method, url string, hdr http.Header, body []byte) ([]byte, string) {
	t.Helper()
	req, addr, err := Encode(method, url, hdr, body)
	if err != nil {
		t.Fatal(err)
	}
	return req, addr
}

func TestEncode_IsARequestNetHTTPReads(t *testing.T) {
	body := []byte(`{"a":1}`)
	req, addr := encode(t, "PATCH", "http://127.0.0.1:8080/api/v1/x?n=3", http.Header{"X-Api-Key": {"k1"}, "content-type": {"application/json"}}, body)
	if addr != "127.0.0.1:8080" {
		t.Fatalf("addr %q", addr)
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(req)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r.Body)
	if r.Method != "PATCH" || r.URL.RequestURI() != "/api/v1/x?n=3" || r.Host != "127.0.0.1:8080" ||
		r.Header.Get("X-Api-Key") != "k1" || r.Header.Get("Content-Type") != "application/json" || !bytes.Equal(got, body) {
		t.Fatalf("read back %s %s host %s headers %v body %q", r.Method, r.URL, r.Host, r.Header, got)
	}
	for _, bad := range []string{"https://127.0.0.1:1/", "http://127.0.0.1/", "::"} {
		if _, _, err := Encode("GET", bad, nil, nil); err == nil {
			t.Errorf("Encode(%q) accepted", bad)
		}
	}
	if _, _, err := Encode("HEAD", "http://127.0.0.1:1/", nil, nil); err == nil {
		t.Error("HEAD accepted")
	}
	if _, _, err := Encode("GET", "http://127.0.0.1:1/", http.Header{"Content-Length": {"3"}}, nil); err == nil {
		t.Error("a Content-Length header of the caller was accepted")
	}
}

func TestClosedLoop_CountsMatchTheServer(t *testing.T) {
	forEngines(t, testClosedLoop_CountsMatchTheServer)
}

func testClosedLoop_CountsMatchTheServer(t *testing.T, e engine) {
	var served atomic.Int64
	addr := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Length", "1000")
		w.Write(bytes.Repeat([]byte("x"), 1000))
	}))
	req, _ := encode(t, "GET", "http://"+addr+"/", nil, nil)
	// By count.
	r, err := e.run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 8, Max: 777, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 777 || served.Load() != 777 || r.Statuses[200] != 777 || r.Wrong != 0 || r.Lat.Count() != 777 {
		t.Fatalf("N %d, served %d, statuses %v, wrong %d, latencies %d; want 777 of 200", r.N, served.Load(), r.Statuses, r.Wrong, r.Lat.Count())
	}
	// By duration: every answer the server gave is counted, no more.
	served.Store(0)
	r, err = e.run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 4, Duration: 200 * time.Millisecond, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.N == 0 || int64(r.N) != served.Load() || r.Wrong != 0 {
		t.Fatalf("N %d, served %d, wrong %d", r.N, served.Load(), r.Wrong)
	}
	if r.Lat.Min() <= 0 || r.Lat.Max() < r.Lat.Quantile(0.99) || r.Lat.Quantile(0.99) < r.Lat.Quantile(0.5) {
		t.Fatalf("latencies out of order: min %v p50 %v p99 %v max %v", r.Lat.Min(), r.Lat.Quantile(0.5), r.Lat.Quantile(0.99), r.Lat.Max())
	}
	t.Logf("closed loop, 4 conns: %.0f req/s, generator %.4f CPU s per 1k requests", r.RPS(), r.CPUPer1k())
}

func TestClosedLoop_MaxSendsEachRequestOnce(t *testing.T) {
	forEngines(t, testClosedLoop_MaxSendsEachRequestOnce)
}

func testClosedLoop_MaxSendsEachRequestOnce(t *testing.T, e engine) {
	var mu sync.Mutex
	seen := map[string]int{}
	addr := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
		w.WriteHeader(204)
	}))
	var reqs [][]byte
	for i := range 300 {
		req, _ := encode(t, "GET", fmt.Sprintf("http://%s/p/%d", addr, i), nil, nil)
		reqs = append(reqs, req)
	}
	r, err := e.run(Config{Addr: addr, Requests: reqs, Conns: 16, Max: len(reqs), Want: 204})
	if err != nil {
		t.Fatal(err)
	}
	// The handler's last writes are ordered before this only through the
	// mutex: the answers crossed raw sockets, which the race detector
	// does not see as synchronising.
	mu.Lock()
	defer mu.Unlock()
	if r.N != 300 || len(seen) != 300 || r.Wrong != 0 {
		t.Fatalf("N %d, distinct paths %d, wrong %d", r.N, len(seen), r.Wrong)
	}
	for p, n := range seen {
		if n != 1 {
			t.Fatalf("%s sent %d times", p, n)
		}
	}
}

func TestWrongStatusIsCounted(t *testing.T) { forEngines(t, testWrongStatusIsCounted) }

func testWrongStatusIsCounted(t *testing.T, e engine) {
	addr := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/teapot") {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.Write([]byte("ok"))
	}))
	good, _ := encode(t, "GET", "http://"+addr+"/", nil, nil)
	bad, _ := encode(t, "GET", "http://"+addr+"/teapot", nil, nil)
	r, err := e.run(Config{Addr: addr, Requests: [][]byte{good, bad, good, good}, Conns: 1, Max: 40, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 40 || r.Wrong != 10 || r.Statuses[418] != 10 || r.Statuses[200] != 30 {
		t.Fatalf("N %d wrong %d statuses %v; want 30×200, 10×418", r.N, r.Wrong, r.Statuses)
	}
}

func TestBadAnswersAreErrorsNotHangs(t *testing.T) { forEngines(t, testBadAnswersAreErrorsNotHangs) }

func testBadAnswersAreErrorsNotHangs(t *testing.T, e engine) {
	cases := []struct {
		name   string
		answer string
		hold   bool // keep the connection open after the answer
		want   func(error) bool
	}{
		{"short body, then close", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", false, isErr(ErrShortBody)},
		{"short body, connection held", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", true, isTimeout},
		{"head never ends, connection held", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", true, isTimeout},
		{"closed mid-head", "HTTP/1.1 200 OK\r\nContent-Le", false, isErr(io.ErrUnexpectedEOF)},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true, isErr(ErrChunked)},
		{"no length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody", true, isErr(ErrNoLength)},
		{"bytes past the length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", true, isErr(ErrExtraBytes)},
		{"not HTTP", "SSH-2.0-OpenSSH_9\r\n\r\n", true, isErr(ErrBadStatus)},
		{"letters in the status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", true, isErr(ErrBadStatus)},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", true, func(err error) bool { return err != nil && strings.Contains(err.Error(), "Content-Length") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			addr := rawServer(t, func(c net.Conn) {
				if readRequest(bufio.NewReader(c)) != nil {
					return
				}
				io.WriteString(c, tc.answer)
				if tc.hold {
					<-release
				}
			})
			defer close(release)
			req, _ := encode(t, "GET", "http://"+addr+"/", nil, nil)
			for _, rate := range []float64{0, 50} {
				cfg := Config{Addr: addr, Requests: [][]byte{req}, Conns: 1, Max: 3, Timeout: 300 * time.Millisecond}
				if rate > 0 {
					cfg.Max, cfg.Rate, cfg.Duration = 0, rate, 60*time.Millisecond
				}
				r, err := e.run(cfg)
				if !tc.want(err) {
					t.Fatalf("rate %v: err = %v", rate, err)
				}
				if r == nil || r.N != 0 {
					t.Fatalf("rate %v: result %+v, want one with no answers", rate, r)
				}
			}
		})
	}
}

func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func TestKeepAliveClosedByServerIsRedialled(t *testing.T) {
	forEngines(t, testKeepAliveClosedByServerIsRedialled)
}

func testKeepAliveClosedByServerIsRedialled(t *testing.T, e engine) {
	// The server closes every connection after one answer without saying
	// so; the generator notices on its next send and redials once.
	var accepted atomic.Int64
	addr := rawServer(t, func(c net.Conn) {
		accepted.Add(1)
		if readRequest(bufio.NewReader(c)) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	req, _ := encode(t, "GET", "http://"+addr+"/", nil, nil)
	r, err := e.run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 2, Max: 20, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 20 || accepted.Load() < 20 {
		t.Fatalf("N %d over %d connections", r.N, accepted.Load())
	}
}

func TestConnectionCloseHeaderIsHonoured(t *testing.T) {
	forEngines(t, testConnectionCloseHeaderIsHonoured)
}

func testConnectionCloseHeaderIsHonoured(t *testing.T, e engine) {
	var accepted atomic.Int64
	addr := rawServer(t, func(c net.Conn) {
		accepted.Add(1)
		br := bufio.NewReader(c)
		if readRequest(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
		}
		// Hold the connection: only the header says it is done.
		readRequest(br)
	})
	req, _ := encode(t, "GET", "http://"+addr+"/", nil, nil)
	r, err := e.run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 1, Max: 5, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 5 || accepted.Load() != 5 {
		t.Fatalf("N %d over %d connections, want 5 over 5", r.N, accepted.Load())
	}
}

func TestOpenLoop_LatencyIncludesTheServersDelay(t *testing.T) {
	forEngines(t, testOpenLoop_LatencyIncludesTheServersDelay)
}

func testOpenLoop_LatencyIncludesTheServersDelay(t *testing.T, e engine) {
	const delay = 5 * time.Millisecond
	addr := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Write([]byte("ok"))
	}))
	req, _ := encode(t, "GET", "http://"+addr+"/", nil, nil)
	r, err := e.run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 8, Rate: 200, Duration: 250 * time.Millisecond, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.Slots != 50 || r.N != 50 || r.Lat.Count() != 50 {
		t.Fatalf("slots %d, answered %d, latencies %d; want 50", r.Slots, r.N, r.Lat.Count())
	}
	if r.Lat.Min() < delay {
		t.Fatalf("min latency %v below the server's %v delay", r.Lat.Min(), delay)
	}
	if r.Late.Count()+r.Queued.Count() != 50 || int(r.Queued.Count()) != r.Busy {
		t.Fatalf("late %d + queued %d != 50 slots (busy %d)", r.Late.Count(), r.Queued.Count(), r.Busy)
	}
}

// TestOpenLoop_FastServerGetsTheAskedRate runs, in the portable engine,
// both ways of keeping the schedule: the pacer (rates up to PacerMaxRate)
// and each connection sleeping to its own slots (above it).
func TestOpenLoop_FastServerGetsTheAskedRate(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		for _, rate := range []float64{2000, 2 * PacerMaxRate} {
			t.Run(fmt.Sprint(rate), func(t *testing.T) { testAskedRate(t, e, rate) })
		}
	})
}

func testAskedRate(t *testing.T, e engine, rate float64) {
	addr := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	req, _ := encode(t, "GET", "http://"+addr+"/", nil, nil)
	dur := time.Duration(1000 / rate * float64(time.Second))
	r, err := e.run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 8, Rate: rate, Duration: dur, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.Slots != 1000 || r.N != 1000 || r.Wrong != 0 {
		t.Fatalf("slots %d answered %d wrong %d; want 1000", r.Slots, r.N, r.Wrong)
	}
	if r.Late.Count()+r.Queued.Count() != 1000 {
		t.Fatalf("late %d + queued %d != 1000 slots", r.Late.Count(), r.Queued.Count())
	}
	// The schedule cannot be run faster than asked: the last slot is
	// (N-1)/rate after the start.
	if r.RPS() > rate*float64(r.N)/float64(r.N-1) {
		t.Fatalf("achieved %.0f req/s, faster than the %v asked", r.RPS(), rate)
	}
	if r.Wall < time.Duration(float64(r.N-1)/rate*float64(time.Second)) {
		t.Fatalf("wall %v shorter than the schedule", r.Wall)
	}
	t.Logf("asked %v req/s, achieved %.0f; generator late p99 %v max %v, %d of %d slots waited for their connection; %.4f CPU s per 1k",
		rate, r.RPS(), r.Late.Quantile(0.99), r.Late.Max(), r.Busy, r.Slots, r.CPUPer1k())
}

func TestOpenLoop_SlowServerShowsQueueing(t *testing.T) {
	forEngines(t, testOpenLoop_SlowServerShowsQueueing)
}

func testOpenLoop_SlowServerShowsQueueing(t *testing.T, e engine) {
	// Two connections against a server taking 20 ms an answer can carry at
	// most 100 req/s; asked for 400 req/s over 250 ms (100 slots), each
	// connection answers 50 in a row, the last no sooner than 1 s after the
	// start, though it was scheduled before 250 ms.
	const delay, conns = 20 * time.Millisecond, 2
	addr := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Write([]byte("ok"))
	}))
	req, _ := encode(t, "GET", "http://"+addr+"/", nil, nil)
	const dur = 250 * time.Millisecond
	r, err := e.run(Config{Addr: addr, Requests: [][]byte{req}, Conns: conns, Rate: 400, Duration: dur, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 100 {
		t.Fatalf("answered %d of 100", r.N)
	}
	floor := time.Duration(r.Slots/conns)*delay - dur
	if r.Lat.Max() < floor {
		t.Fatalf("max latency %v, but the last request cannot be answered sooner than %v after its slot", r.Lat.Max(), floor)
	}
	// Every slot after a connection's first was due while its connection
	// was still waiting: 20 ms answers against 5 ms between its slots.
	if r.Busy < r.Slots-conns || r.Queued.Max() < floor-delay {
		t.Fatalf("busy %d of %d slots, queued max %v; want the queueing reported", r.Busy, r.Slots, r.Queued.Max())
	}
	if r.RPS() >= 400 {
		t.Fatalf("achieved %.0f req/s against a server that carries at most 100", r.RPS())
	}
}

// cannedServer answers every request with the same bytes and allocates
// nothing per request itself, so allocations counted are the generator's.
func cannedServer(t *testing.T, answer []byte) string {
	return rawServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		n := 0
		for {
			m, err := c.Read(buf[n:])
			n += m
			if i := bytes.Index(buf[:n], crlfcrlf); i >= 0 {
				copy(buf, buf[i+4:n])
				n -= i + 4
				if _, err := c.Write(answer); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

func TestRoundTrip_NoAllocations(t *testing.T) {
	body := bytes.Repeat([]byte("a"), 40000)
	addr := cannedServer(t, append([]byte("HTTP/1.1 200 OK\r\nContent-Length: 40000\r\nContent-Type: text/plain\r\n\r\n"), body...))
	req, _ := encode(t, "GET", "http://"+addr+"/range/ABCDE", nil, nil)
	w := &worker{addr: addr, timeout: 10 * time.Second, buf: make([]byte, bufSize), tally: tally{want: 200}}
	defer w.close()
	if _, err := w.roundTrip(req, time.Now()); err != nil { // dial and first deadline
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		now := time.Now()
		status, err := w.roundTrip(req, now)
		if err != nil || status != 200 {
			t.Fatalf("status %d err %v", status, err)
		}
		w.lat.Record(time.Since(now))
		w.record(status)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request", allocs)
	}
}

func TestHist(t *testing.T) {
	var h Hist
	if h.Quantile(0.5) != 0 || h.Count() != 0 {
		t.Fatal("empty histogram has values")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.99: 990 * time.Millisecond, 0.999: 999 * time.Millisecond, 1: time.Second} {
		got := h.Quantile(q)
		if got < want || float64(got) > float64(want)*1.008 {
			t.Errorf("quantile(%v) = %v, want within 0.8%% above %v", q, got, want)
		}
	}
	if h.Min() != time.Millisecond || h.Max() != time.Second || h.Mean() != 500500*time.Microsecond {
		t.Errorf("min %v max %v mean %v", h.Min(), h.Max(), h.Mean())
	}
	// Small values are exact; merge adds counts and keeps min and max.
	var a, b Hist
	a.Record(3)
	b.Record(7)
	b.Record(-1)
	a.Merge(&b)
	if a.Count() != 3 || a.Min() != 0 || a.Max() != 7 || a.Quantile(0.5) != 3 {
		t.Errorf("merged: count %d min %v max %v p50 %v", a.Count(), a.Min(), a.Max(), a.Quantile(0.5))
	}
	// Every bucket's upper bound maps back to the bucket.
	for i := range nBuckets - 1 {
		if bucketOf(upper(i)) != i || bucketOf(upper(i)+1) != i+1 {
			t.Fatalf("bucket %d: upper %d maps to %d, next to %d", i, upper(i), bucketOf(upper(i)), bucketOf(upper(i)+1))
		}
	}
}

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses; utime and stime
	// are the 14th and 15th fields.
	line := "4242 (safe reset) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 123 456 789\n"
	got, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if got != 3.25 {
		t.Fatalf("ParseStat = %v, want 3.25 (325 ticks)", got)
	}
	if _, err := ParseStat([]byte("1 (x) S 1 2")); err == nil {
		t.Fatal("short line accepted")
	}
	if _, err := ParseStat([]byte("1 x S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75")); err == nil {
		t.Fatal("line without a parenthesised name accepted")
	}
}

func TestStatFields(t *testing.T) {
	name, f, ok := StatFields([]byte("80 (kdamond.0 (x)) S 2 0\n"))
	if !ok || name != "kdamond.0 (x)" || len(f) != 3 || f[0] != "S" || f[1] != "2" {
		t.Fatalf("StatFields = %q %q %v", name, f, ok)
	}
	for _, bad := range []string{"", "80 kdamond S 2", "80 ) (x S 2"} {
		if _, _, ok := StatFields([]byte(bad)); ok {
			t.Errorf("%q split", bad)
		}
	}
}

func TestSelfCPUAndProcessCPUMove(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	s0, err := SelfCPU()
	if err != nil {
		t.Fatal(err)
	}
	p0, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until both counters move; the loop ends on the effect.
	x := 0
	for {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		s1, _ := SelfCPU()
		p1, _ := ProcessCPU(os.Getpid())
		if s1 > s0 && p1 > p0 {
			break
		}
	}
	_ = strconv.Itoa(x)
}

func TestRun_RefusesNonsense(t *testing.T) {
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, c := range []Config{
		{Addr: "127.0.0.1:1", Requests: [][]byte{req}, Conns: 0, Max: 1},
		{Addr: "127.0.0.1:1", Conns: 1, Max: 1},
		{Addr: "127.0.0.1:1", Requests: [][]byte{req}, Conns: 1},
		{Addr: "127.0.0.1:1", Requests: [][]byte{req}, Conns: 1, Rate: 10},
		{Addr: "127.0.0.1:1", Requests: [][]byte{req}, Conns: 1, Max: -1},
	} {
		if _, err := Run(c); err == nil {
			t.Errorf("Run(%+v) accepted", c)
		}
	}
}
