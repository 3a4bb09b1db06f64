// Package loadgen is a lean HTTP/1.1 load generator for the benchmarks.
//
// It exists because a general client (net/http, vegeta) spends more CPU
// per request than the server under test answers one in, and on a small
// machine the generator then sets the peak. Here each connection is a raw
// keep-alive net.Conn, every request is encoded once before the run, and
// an answer is parsed only as far as needed: the status line, the headers
// up to the blank line, Content-Length; the body is read into a reused
// buffer and discarded. A request costs no allocation in steady state.
//
// Two engines drive the connections. On Linux, one or a few event loops
// (evloop_linux.go), each an OS thread running epoll over raw
// non-blocking sockets: a request is a write(2), an answer a read(2) per
// readiness event, and the wait for the next slot is the epoll call's own
// nanosecond timeout. Elsewhere, or with Config.Portable, a goroutine per
// connection through net.Conn, with a pacer thread for open loops. At
// 10k req/s an open-loop request cost one event loop a quarter to a half
// less CPU than the portable engine (BENCHMARKS.md), which matters when
// the generator shares two cores with the server under test.
//
// Two modes: a closed loop (each connection sends its next request when
// the answer is in) for the peak, and an open loop at a fixed rate whose
// schedule is fixed before the run. In the open loop, latency counts from
// each request's scheduled time, so a request that waited for its
// connection (coordinated omission) carries that wait; how late the
// generator itself was in sending requests whose connection was free is
// reported apart, so a generator that cannot keep up is visible.
package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what to send where, how.
type Config struct {
	Addr     string   // host:port to dial
	Requests [][]byte // encoded requests (Encode), sent in turn
	Conns    int      // connections, all dialled before the clock starts

	// Rate is the open loop's requests per second; 0 runs a closed loop.
	Rate float64
	// Duration is the closed loop's length, or the open loop's schedule
	// (Rate × Duration requests in all). In a closed loop 0 means until
	// Max requests have been sent.
	Duration time.Duration
	// Max caps a closed loop's requests in all; each of the first Max
	// requests of Requests is then sent exactly once in order when
	// Max <= len(Requests). 0 = no cap.
	Max int

	// Want is the status every answer must carry; others are counted as
	// Wrong. 0 accepts any.
	Want int
	// Timeout bounds the wait for a complete answer (default 10 s): a
	// server that sends less than it announced is an error, not a hang.
	Timeout time.Duration

	// Portable drives each connection from its own goroutine through
	// net.Conn, as on systems without the event-loop engine (Linux has
	// it). Loops is the event-loop engine's threads (default 1; rounded
	// down to a divisor of Conns).
	Portable bool
	Loops    int
}

// Result is what a run measured.
type Result struct {
	N        int         // answered requests
	Wrong    int         // answers with another status than Want
	Statuses map[int]int // every status seen
	// Lat is the latency of every answer: from the send in a closed loop,
	// from the scheduled time in an open loop.
	Lat Hist
	// Open loop only. Late: for requests whose connection was free at
	// their scheduled time, how late the generator sent them (its own
	// timer and scheduling delay). Queued: for the others (Busy of them),
	// how long after their scheduled time the connection became free.
	Late, Queued Hist
	Busy         int
	Slots        int // open loop: requests scheduled

	Wall time.Duration // from the clock's start to the last answer
	CPU  float64       // this process's CPU seconds during the run
}

// RPS is answered requests per second of wall time.
func (r *Result) RPS() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.N) / r.Wall.Seconds()
}

// CPUPer1k is this process's CPU seconds per 1,000 answered requests.
func (r *Result) CPUPer1k() float64 {
	if r.N == 0 {
		return 0
	}
	return r.CPU / float64(r.N) * 1000
}

// Errors an answer can be refused with.
var (
	ErrChunked    = errors.New("loadgen: chunked answer (only Content-Length bodies are supported)")
	ErrNoLength   = errors.New("loadgen: answer without Content-Length")
	ErrShortBody  = errors.New("loadgen: connection ended before the announced body")
	ErrExtraBytes = errors.New("loadgen: bytes after the announced body")
	ErrBadStatus  = errors.New("loadgen: malformed status line")
	ErrBigHeaders = errors.New("loadgen: answer headers larger than the read buffer")
)

const bufSize = 64 << 10

// worker is one connection and what it measured.
type worker struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	served  int // answers on the current connection
	refresh time.Time
	buf     []byte
	tally
}

// tally is what one connection (or one event loop) measured.
type tally struct {
	lat, late, queued Hist
	status            [600]int
	other             int // statuses outside 100-599 (never from a sane server)
	n, wrong, busy    int
	want              int
}

func (w *worker) dial() error {
	c, err := net.DialTimeout("tcp", w.addr, w.timeout)
	if err != nil {
		return err
	}
	w.c, w.served, w.refresh = c, 0, time.Time{}
	return nil
}

func (w *worker) close() {
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
}

// roundTrip sends req and reads its answer. now is the caller's clock
// reading, used to refresh the deadline only every Timeout/2, so the
// per-request path sets no timer.
func (w *worker) roundTrip(req []byte, now time.Time) (int, error) {
	for attempt := 0; ; attempt++ {
		if w.c == nil {
			if err := w.dial(); err != nil {
				return 0, err
			}
		}
		if now.After(w.refresh) {
			w.c.SetDeadline(now.Add(w.timeout))
			w.refresh = now.Add(w.timeout / 2)
		}
		reused := w.served > 0
		status, got, err := w.exchange(req)
		if err == nil {
			w.served++
			return status, nil
		}
		w.close()
		// A keep-alive connection the server closed while idle fails
		// before any byte of the answer: send again on a fresh one, once.
		if reused && got == 0 && attempt == 0 && !isTimeout(err) {
			continue
		}
		return 0, err
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var crlfcrlf = []byte("\r\n\r\n")

// exchange writes req and reads one answer; got is how many bytes of the
// answer arrived before an error.
func (w *worker) exchange(req []byte) (status, got int, err error) {
	if _, err := w.c.Write(req); err != nil {
		return 0, 0, err
	}
	buf := w.buf
	n, end := 0, -1
	for end < 0 {
		if n == len(buf) {
			return 0, n, ErrBigHeaders
		}
		m, rerr := w.c.Read(buf[n:])
		from := max(n-3, 0)
		n += m
		if i := bytes.Index(buf[from:n], crlfcrlf); i >= 0 {
			end = from + i
			break
		}
		if rerr != nil {
			if rerr == io.EOF {
				return 0, n, fmt.Errorf("loadgen: connection closed after %d bytes of an answer: %w", n, io.ErrUnexpectedEOF)
			}
			return 0, n, rerr
		}
	}
	head := buf[:end]
	status, length, closeAfter, err := parseHead(head)
	if err != nil {
		return 0, n, err
	}
	have := n - (end + 4)
	if have > length {
		return 0, n, ErrExtraBytes
	}
	for rem := length - have; rem > 0; {
		m, rerr := w.c.Read(buf[:min(rem, len(buf))])
		rem -= m
		n += m
		if rem > 0 && rerr != nil {
			if rerr == io.EOF {
				return 0, n, ErrShortBody
			}
			return 0, n, fmt.Errorf("loadgen: reading the body: %w", rerr)
		}
	}
	if closeAfter {
		w.close()
	}
	return status, n, nil
}

// parseHead reads the status and the framing headers of an answer's head
// (without the final CRLFCRLF).
func parseHead(h []byte) (status, length int, closeAfter bool, err error) {
	line, rest, _ := bytes.Cut(h, []byte("\r\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, false, ErrBadStatus
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, 0, false, ErrBadStatus
		}
		status = status*10 + int(c-'0')
	}
	if len(line) > 12 && line[12] != ' ' {
		return 0, 0, false, ErrBadStatus
	}
	length = -1
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, val, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			v, ok := parseLength(val)
			if !ok || (length >= 0 && v != length) {
				return 0, 0, false, fmt.Errorf("loadgen: bad Content-Length %q", val)
			}
			length = v
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(val, []byte("identity")) {
				return 0, 0, false, ErrChunked
			}
		case bytes.EqualFold(name, []byte("Connection")):
			closeAfter = bytes.EqualFold(val, []byte("close"))
		}
	}
	if length < 0 {
		if status == 204 || status == 304 || status < 200 {
			return status, 0, closeAfter, nil
		}
		return 0, 0, false, ErrNoLength
	}
	return status, length, closeAfter, nil
}

func parseLength(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func (t *tally) record(status int) {
	if status >= 100 && status < 600 {
		t.status[status]++
	} else {
		t.other++
	}
	if t.want != 0 && status != t.want {
		t.wrong++
	}
	t.n++
}

// add merges t into r.
func (r *Result) add(t *tally) {
	r.N += t.n
	r.Wrong += t.wrong
	r.Busy += t.busy
	r.Lat.Merge(&t.lat)
	r.Late.Merge(&t.late)
	r.Queued.Merge(&t.queued)
	for s, c := range t.status {
		if c > 0 {
			r.Statuses[s] += c
		}
	}
	if t.other > 0 {
		r.Statuses[0] += t.other
	}
}

// Run drives cfg.Addr as cfg says and returns what it measured. The first
// transport or protocol error ends the run (after the other connections
// finish their current request) and is returned with the partial result.
func Run(cfg Config) (*Result, error) {
	if cfg.Conns < 1 || len(cfg.Requests) == 0 {
		return nil, errors.New("loadgen: need at least one connection and one request")
	}
	if cfg.Rate < 0 || cfg.Duration < 0 || cfg.Max < 0 {
		return nil, errors.New("loadgen: negative rate, duration or max")
	}
	if cfg.Rate > 0 && cfg.Duration == 0 {
		return nil, errors.New("loadgen: an open loop needs a duration")
	}
	if cfg.Rate == 0 && cfg.Duration == 0 && cfg.Max == 0 {
		return nil, errors.New("loadgen: a closed loop needs a duration or a max")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if haveLoops && !cfg.Portable {
		return runLoops(cfg)
	}
	ws := make([]*worker, cfg.Conns)
	for i := range ws {
		ws[i] = &worker{addr: cfg.Addr, timeout: cfg.Timeout, buf: make([]byte, bufSize), tally: tally{want: cfg.Want}}
		if err := ws[i].dial(); err != nil {
			for _, w := range ws[:i] {
				w.close()
			}
			return nil, err
		}
	}
	defer func() {
		for _, w := range ws {
			w.close()
		}
	}()

	var (
		st      runState
		wg      sync.WaitGroup
		claimed atomic.Int64
	)
	failed, fail := st.failed.Load, st.fail
	slots := cfg.slots()
	cpu0, err := SelfCPU()
	if err != nil {
		return nil, err
	}
	paced := cfg.Rate > 0 && cfg.Rate <= PacerMaxRate
	var due []chan int // paced open loop: each connection's slots, as they fall due
	if paced {
		due = make([]chan int, len(ws))
		for i := range due {
			due[i] = make(chan int, slots/len(ws)+1)
		}
	}
	start := time.Now()
	stop := start.Add(cfg.Duration)
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch {
			case paced:
				w.open(cfg, func() (int, bool) { k, ok := <-due[i]; return k, ok }, start, fail)
			case cfg.Rate > 0:
				k := i - len(ws)
				w.open(cfg, func() (int, bool) {
					k += len(ws)
					return k, k < slots && !failed()
				}, start, fail)
			default:
				w.closed(cfg, i, stop, &claimed, failed, fail)
			}
		}()
	}
	if paced {
		pace(cfg.Rate, slots, start, due, failed)
	}
	wg.Wait()
	wall := time.Since(start)
	cpu1, err := SelfCPU()
	if err != nil {
		return nil, err
	}
	r := &Result{Statuses: map[int]int{}, Wall: wall, CPU: cpu1 - cpu0, Slots: slots}
	for _, w := range ws {
		r.add(&w.tally)
	}
	return r, st.err
}

// runState is how a run's connections learn it failed; the first error
// is the one returned.
type runState struct {
	failed atomic.Bool
	once   sync.Once
	err    error
}

func (s *runState) fail(err error) {
	s.once.Do(func() { s.err = err })
	s.failed.Store(true)
}

// slots is the open loop's schedule length (0 for a closed loop).
func (cfg *Config) slots() int {
	if cfg.Rate <= 0 {
		return 0
	}
	return max(1, int(cfg.Rate*cfg.Duration.Seconds()))
}

func (w *worker) closed(cfg Config, i int, stop time.Time, claimed *atomic.Int64, failed func() bool, fail func(error)) {
	for j := 0; !failed(); j++ {
		k := j*cfg.Conns + i
		if cfg.Max > 0 {
			k = int(claimed.Add(1) - 1)
			if k >= cfg.Max {
				return
			}
		}
		t0 := time.Now()
		if cfg.Duration > 0 && !t0.Before(stop) {
			return
		}
		status, err := w.roundTrip(cfg.Requests[k%len(cfg.Requests)], t0)
		if err != nil {
			fail(err)
			return
		}
		w.lat.Record(time.Since(t0))
		w.record(status)
	}
}

// PacerMaxRate is the highest open-loop rate run by the pacer (pace);
// above it each connection sleeps to its own slots on the runtime's
// timers. The runtime checks timers in epoll_wait with a timeout in whole
// milliseconds when every P is idle, so at a low rate a sub-millisecond
// time.Sleep overshot by up to a millisecond (late p99 1.2-1.4 ms at 10k
// req/s), which the pacer's nanosleep avoids. At a high rate the Ps are
// never idle and the timers are precise, while a nanosleep per slot made
// the generator's own CPU per request nearly double (0.013 to 0.024 ms at
// 30-40k req/s) and overloaded the two cores it shares with the server.
const PacerMaxRate = 20000

// pace hands out the schedule: slot k goes to connection k mod C when
// it falls due. One goroutine on its own thread sleeps between slots
// (sleepFor, to the tens of microseconds), so the generator runs a few
// threads, not one per connection: with a thread per sleeping
// connection, the kernel's scheduler delayed wake-ups by milliseconds
// whenever the two cores were shared with the server.
func pace(rate float64, slots int, start time.Time, due []chan int, failed func() bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer func() {
		for _, c := range due {
			close(c)
		}
	}()
	for k := 0; k < slots && !failed(); k++ {
		sched := slotTime(start, rate, k)
		if d := time.Until(sched); d > 0 {
			sleepFor(d)
		}
		due[k%len(due)] <- k
	}
}

// slotTime is when slot k of an open loop at rate falls due.
func slotTime(start time.Time, rate float64, k int) time.Time {
	return start.Add(time.Duration(float64(k) * float64(time.Second) / rate))
}

// open sends the slots next hands it (the pacer's, already due, or its
// own, slept to), each once it is due and the connection is free.
func (w *worker) open(cfg Config, next func() (int, bool), start time.Time, fail func(error)) {
	var freeAt time.Time // when the previous answer arrived
	failed := false
	for {
		k, ok := next()
		if !ok {
			return
		}
		if failed {
			continue // drain, so the pacer never blocks
		}
		sched := slotTime(start, cfg.Rate, k)
		now := time.Now()
		switch {
		case now.Before(sched):
			time.Sleep(sched.Sub(now))
			now = time.Now()
			w.late.Record(now.Sub(sched))
		case freeAt.After(sched):
			// The connection was still waiting for an earlier answer:
			// the server's queueing, carried in this request's latency.
			w.busy++
			w.queued.Record(freeAt.Sub(sched))
		default:
			// The connection was free in time: how late the generator
			// sent it is its own delay.
			w.late.Record(now.Sub(sched))
		}
		status, err := w.roundTrip(cfg.Requests[k%len(cfg.Requests)], now)
		freeAt = time.Now()
		if err != nil {
			fail(err)
			failed = true
			continue
		}
		w.lat.Record(freeAt.Sub(sched))
		w.record(status)
	}
}
