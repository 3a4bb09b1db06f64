package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// engine is one way Run drives its connections; every behaviour test
// runs under each.
type engine struct {
	name     string
	portable bool
	loops    int
}

func (e engine) run(cfg Config) (*Result, error) {
	cfg.Portable, cfg.Loops = e.portable, e.loops
	return Run(cfg)
}

func forEngines(t *testing.T, f func(*testing.T, engine)) {
	es := []engine{{name: "portable", portable: true}}
	if haveLoops {
		es = append(es, engine{name: "loop", loops: 1}, engine{name: "loops2", loops: 2})
	}
	for _, e := range es {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

func TestLoopsFor_DividesTheConnections(t *testing.T) {
	for _, c := range []struct{ asked, conns, want int }{
		{0, 64, 1}, {1, 64, 1}, {2, 64, 2}, {3, 64, 2}, {4, 6, 3}, {5, 7, 1}, {8, 2, 2}, {2, 1, 1},
	} {
		if got := loopsFor(c.asked, c.conns); got != c.want {
			t.Errorf("loopsFor(%d, %d) = %d, want %d", c.asked, c.conns, got, c.want)
		}
	}
}

// TestLoops_EachSlotOnceOverFourLoops: with four loops over twelve
// connections, every slot of the schedule is sent exactly once, and each
// on the connection the schedule gives it (slot k on connection k mod 12).
func TestLoops_EachSlotOnceOverFourLoops(t *testing.T) {
	if !haveLoops {
		t.Skip("no event-loop engine on this system")
	}
	const conns, slots = 12, 600
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		on   = map[string]string{} // path -> remote address it came from
	)
	addr := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		on[r.URL.Path] = r.RemoteAddr
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	var reqs [][]byte
	for i := range slots {
		req, _ := encode(t, "GET", fmt.Sprintf("http://%s/s/%d", addr, i), nil, nil)
		reqs = append(reqs, req)
	}
	r, err := Run(Config{Addr: addr, Requests: reqs, Conns: conns, Loops: 4, Rate: 3000, Duration: 200 * time.Millisecond, Want: 200})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock() // the handler's writes are ordered before the reads only by it
	defer mu.Unlock()
	if r.Slots != slots || r.N != slots || len(seen) != slots || r.Late.Count()+r.Queued.Count() != slots {
		t.Fatalf("slots %d answered %d distinct %d late+queued %d; want %d", r.Slots, r.N, len(seen), r.Late.Count()+r.Queued.Count(), slots)
	}
	for p, n := range seen {
		if n != 1 {
			t.Fatalf("%s sent %d times", p, n)
		}
	}
	// Slots k and k+12 share a connection; k and k+1 never do.
	for k := range slots - conns {
		a, b := on[fmt.Sprintf("/s/%d", k)], on[fmt.Sprintf("/s/%d", k+conns)]
		if a != b {
			t.Fatalf("slots %d and %d on %s and %s, want one connection", k, k+conns, a, b)
		}
		if c := on[fmt.Sprintf("/s/%d", k+1)]; c == a {
			t.Fatalf("slots %d and %d share connection %s", k, k+1, a)
		}
	}
}

// TestLoops_NoAllocationPerRequest: a run of 20,000 requests allocates no
// more than one of 200 (setup and result only).
func TestLoops_NoAllocationPerRequest(t *testing.T) {
	if !haveLoops {
		t.Skip("no event-loop engine on this system")
	}
	body := bytes.Repeat([]byte("a"), 40000)
	addr := cannedServer(t, append([]byte("HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n"), body...))
	req, _ := encode(t, "GET", "http://"+addr+"/range/ABCDE", nil, nil)
	mallocs := func(max int) uint64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		r, err := Run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 4, Max: max, Want: 200})
		runtime.ReadMemStats(&m1)
		if err != nil || r.N != max {
			t.Fatalf("max %d: answered %v, err %v", max, r, err)
		}
		return m1.Mallocs - m0.Mallocs
	}
	small, large := mallocs(200), mallocs(20000)
	// The server's goroutines are in this process too; it allocates
	// nothing per request either (cannedServer).
	if large > small+200 {
		t.Fatalf("%d allocations for 20,000 requests against %d for 200", large, small)
	}
}

// TestLoops_RequestLargerThanTheSocketBuffer is written in pieces as the
// socket drains (EPOLLOUT), and the server reads every byte of it. 8 MiB
// is more than the client's send buffer (4 MiB at most here) and the
// server's receive window hold before its handler reads.
func TestLoops_RequestLargerThanTheSocketBuffer(t *testing.T) {
	forEngines(t, func(t *testing.T, e engine) {
		const size = 8 << 20
		var got atomic.Int64
		addr := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			got.Add(n)
			w.Write([]byte("ok"))
		}))
		req, _ := encode(t, "POST", "http://"+addr+"/", http.Header{"Content-Type": {"application/octet-stream"}}, bytes.Repeat([]byte("b"), size))
		r, err := e.run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 2, Max: 4, Want: 200})
		if err != nil {
			t.Fatal(err)
		}
		if r.N != 4 || got.Load() != 4*size {
			t.Fatalf("answered %d, server read %d bytes; want 4 and %d", r.N, got.Load(), 4*size)
		}
	})
}

// TestLoops_EarlyAnswerClosesTheConnection: a server that answers a
// request's head (a 413, say) and never reads its body leaves the
// connection with bytes of the request unsent. As RFC 9112 (section 9.5)
// asks of a client, the event loop stops sending and closes it, and the
// next request goes on a fresh connection. The body (32 MiB) is larger
// than what the two sockets' buffers can hold while nobody reads, so a
// client that kept writing would never finish and the run would end in a
// timeout. (The portable engine writes the whole request before it
// reads, so it cannot see the early answer.)
func TestLoops_EarlyAnswerClosesTheConnection(t *testing.T) {
	if !haveLoops {
		t.Skip("no event-loop engine on this system")
	}
	var accepted atomic.Int64
	release := make(chan struct{})
	addr := rawServer(t, func(c net.Conn) {
		accepted.Add(1)
		c.(*net.TCPConn).SetReadBuffer(4096)
		if readRequest(bufio.NewReader(c)) != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
		<-release // never read the body
	})
	defer close(release)
	req, _ := encode(t, "POST", "http://"+addr+"/", http.Header{"Content-Type": {"application/octet-stream"}}, bytes.Repeat([]byte("b"), 32<<20))
	r, err := Run(Config{Addr: addr, Requests: [][]byte{req}, Conns: 1, Max: 3, Want: 413, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.N != 3 || r.Wrong != 0 || accepted.Load() != 3 {
		t.Fatalf("answered %d (wrong %d) over %d connections; want 3 of 413 over 3", r.N, r.Wrong, accepted.Load())
	}
}
