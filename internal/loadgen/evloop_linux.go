package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// haveLoops says this system has the event-loop engine (runLoops).
const haveLoops = true

// The event-loop engine drives its connections from one or a few OS
// threads, each an epoll loop over raw non-blocking sockets: a request
// is one write(2), an answer one read(2) per readiness event, and the
// wait for the next slot or answer is the epoll_pwait2 call itself, with
// a nanosecond timeout. Through net.Conn goroutines (the portable
// engine) the same request also cost the runtime's scheduling: a parked
// goroutine woken by the netpoller, and in an open loop a timer or the
// pacer's channel send, each a futex wake of another thread at low load.
// On two cores shared with the server that made an open-loop request
// cost the generator more CPU than a closed-loop one, so a run at 80% of
// the closed-loop peak overloaded the machine.

// evConn is one connection of an event loop.
type evConn struct {
	id     int // this connection's index among all of the run's
	fd     int // -1 while closed: dialled again on the next send
	served int // answers on the current connection
	buf    []byte

	inflight bool
	req      []byte // the request in flight
	out      []byte // what is left to write of it
	writing  bool   // waiting for EPOLLOUT to write the rest
	retried  bool   // sent again once on a fresh connection
	origin   time.Duration
	sentAt   time.Duration

	// the answer so far
	n    int  // head bytes in buf
	body bool // the head is parsed; rem body bytes are left
	rem  int
	got  int // bytes of the answer in all
	st   int
	shut bool // the answer said Connection: close

	// open loop: next is this connection's next slot, due how many of
	// its slots have fallen due and wait to be sent; freeAt is when its
	// last answer arrived. Closed loop: next counts its requests.
	next, due int
	freeAt    time.Duration
	done      bool // closed loop: sends no more
}

// evLoop is one thread's share of a run: the connections whose index is
// l mod L, and in an open loop the slots that go to them.
type evLoop struct {
	cfg    *Config
	sa     unix.Sockaddr
	family int
	ep     int
	conns  []*evConn
	events []unix.EpollEvent
	tally

	start      time.Time
	stride     int // loops in the run
	slots, k   int // open loop: slots in all; the next of this loop's to fall due
	claimed    *atomic.Int64
	failed     *atomic.Bool
	fail       func(error)
	inflight   int
	nextCheck  time.Duration
	checkEvery time.Duration
	lastAnswer time.Duration
}

// errTimeout is a connection that gave no complete answer within
// Config.Timeout; it is a net.Error whose Timeout is true, as the
// portable engine's deadline error is.
type errTimeout struct{ after time.Duration }

func (e errTimeout) Error() string {
	return fmt.Sprintf("loadgen: no complete answer within %v", e.after)
}
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

var _ net.Error = errTimeout{}

// loopsFor is how many event loops a run of conns connections uses:
// at most asked (default 1) and a divisor of conns, so that slot k, which
// goes to connection k mod conns, belongs to loop k mod loops.
func loopsFor(asked, conns int) int {
	l := min(max(asked, 1), conns)
	for conns%l != 0 {
		l--
	}
	return l
}

func runLoops(cfg Config) (*Result, error) {
	ta, err := net.ResolveTCPAddr("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	L := loopsFor(cfg.Loops, cfg.Conns)
	var (
		st      runState
		claimed atomic.Int64
	)
	slots := cfg.slots()
	loops := make([]*evLoop, L)
	closeAll := func() {
		for _, lp := range loops {
			if lp != nil {
				lp.close()
			}
		}
	}
	for l := range loops {
		sa, family := sockaddr(ta)
		lp := &evLoop{cfg: &cfg, sa: sa, family: family, stride: L, slots: slots, k: l,
			claimed: &claimed, failed: &st.failed, fail: st.fail,
			checkEvery: min(cfg.Timeout/4, 50*time.Millisecond), tally: tally{want: cfg.Want}}
		loops[l] = lp
		lp.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			closeAll()
			return nil, os.NewSyscallError("epoll_create1", err)
		}
		for c := l; c < cfg.Conns; c += L {
			ec := &evConn{id: c, fd: -1, buf: make([]byte, bufSize), next: c}
			lp.conns = append(lp.conns, ec)
			if err := lp.dial(ec); err != nil {
				closeAll()
				return nil, err
			}
		}
		lp.events = make([]unix.EpollEvent, len(lp.conns))
	}
	defer closeAll()

	cpu0, err := SelfCPU()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, lp := range loops {
		lp.start = start
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			lp.run()
		}()
	}
	wg.Wait()
	cpu1, err := SelfCPU()
	if err != nil {
		return nil, err
	}
	r := &Result{Statuses: map[int]int{}, CPU: cpu1 - cpu0, Slots: slots}
	for _, lp := range loops {
		r.add(&lp.tally)
		r.Wall = max(r.Wall, lp.lastAnswer)
	}
	if r.Wall == 0 {
		r.Wall = time.Since(start)
	}
	return r, st.err
}

// sockaddr is ta for connect(2). Each loop needs its own: Connect
// encodes into the value.
func sockaddr(ta *net.TCPAddr) (unix.Sockaddr, int) {
	if ip4 := ta.IP.To4(); ip4 != nil {
		s := &unix.SockaddrInet4{Port: ta.Port}
		copy(s.Addr[:], ip4)
		return s, unix.AF_INET
	}
	s := &unix.SockaddrInet6{Port: ta.Port}
	copy(s.Addr[:], ta.IP.To16())
	return s, unix.AF_INET6
}

func (lp *evLoop) close() {
	for _, c := range lp.conns {
		lp.closeConn(c)
	}
	if lp.ep > 0 {
		unix.Close(lp.ep)
		lp.ep = 0
	}
}

func (lp *evLoop) since() time.Duration { return time.Since(lp.start) }

func (lp *evLoop) run() {
	open := lp.cfg.Rate > 0
	if !open {
		now := lp.since()
		for _, c := range lp.conns {
			lp.sendNextClosed(c, now)
		}
	}
	for {
		now := lp.since()
		if open {
			lp.fallDue(now)
		}
		if now >= lp.nextCheck {
			lp.checkTimeouts(now)
			lp.nextCheck = now + lp.checkEvery
		}
		if lp.inflight == 0 && (!open || lp.k >= lp.slots || lp.failed.Load()) {
			return
		}
		wait := lp.nextCheck - now
		if open && lp.k < lp.slots && !lp.failed.Load() {
			wait = min(wait, slotAt(lp.cfg.Rate, lp.k)-now)
		}
		n, err := epollWait(lp.ep, lp.events, wait)
		if err != nil {
			lp.fail(err)
			lp.abandon()
			return
		}
		now = lp.since()
		for _, ev := range lp.events[:n] {
			c := lp.conns[int(ev.Fd)/lp.stride]
			if ev.Events&unix.EPOLLOUT != 0 && c.writing {
				lp.write(c)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 {
				lp.read(c, now)
			}
		}
	}
}

// slotAt is slotTime as an offset from the start.
func slotAt(rate float64, k int) time.Duration {
	return time.Duration(float64(k) * float64(time.Second) / rate)
}

// fallDue hands each of this loop's slots that is due by now to its
// connection, and sends it if the connection is free.
func (lp *evLoop) fallDue(now time.Duration) {
	C := lp.cfg.Conns
	for lp.k < lp.slots && slotAt(lp.cfg.Rate, lp.k) <= now && !lp.failed.Load() {
		c := lp.conns[(lp.k%C)/lp.stride]
		c.due++
		lp.k += lp.stride
		if !c.inflight {
			lp.sendNextOpen(c, now)
		}
	}
}

func (lp *evLoop) sendNextOpen(c *evConn, now time.Duration) {
	if c.due == 0 || lp.failed.Load() {
		return
	}
	k := c.next
	c.next += lp.cfg.Conns
	c.due--
	sched := slotAt(lp.cfg.Rate, k)
	if c.freeAt > sched {
		// The connection was still waiting for an earlier answer: the
		// server's queueing, carried in this request's latency.
		lp.busy++
		lp.queued.Record(c.freeAt - sched)
	} else {
		lp.late.Record(now - sched)
	}
	lp.send(c, lp.cfg.Requests[k%len(lp.cfg.Requests)], sched, now)
}

func (lp *evLoop) sendNextClosed(c *evConn, now time.Duration) {
	if c.done || lp.failed.Load() || (lp.cfg.Duration > 0 && now >= lp.cfg.Duration) {
		c.done = true
		return
	}
	k := c.next*lp.cfg.Conns + c.id
	c.next++
	if lp.cfg.Max > 0 {
		k = int(lp.claimed.Add(1) - 1)
		if k >= lp.cfg.Max {
			c.done = true
			return
		}
	}
	lp.send(c, lp.cfg.Requests[k%len(lp.cfg.Requests)], now, now)
}

func (lp *evLoop) send(c *evConn, req []byte, origin, now time.Duration) {
	c.req, c.origin, c.retried = req, origin, false
	c.inflight = true
	lp.inflight++
	lp.transmit(c, now)
}

// transmit starts writing c.req on c's connection, dialling it first if
// it is closed.
func (lp *evLoop) transmit(c *evConn, now time.Duration) {
	if c.fd < 0 {
		if err := lp.dial(c); err != nil {
			lp.finish(c, err)
			return
		}
	}
	c.out, c.sentAt = c.req, now
	c.n, c.body, c.rem, c.got = 0, false, 0, 0
	lp.write(c)
}

func (lp *evLoop) write(c *evConn) {
	for len(c.out) > 0 {
		m, err := unix.Write(c.fd, c.out)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if !c.writing {
				c.writing = true
				if err := lp.ctl(c, unix.EPOLL_CTL_MOD, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLOUT); err != nil {
					lp.broken(c, err)
				}
			}
			return
		}
		if err != nil {
			lp.broken(c, os.NewSyscallError("write", err))
			return
		}
		c.out = c.out[m:]
	}
	if c.writing {
		c.writing = false
		if err := lp.ctl(c, unix.EPOLL_CTL_MOD, unix.EPOLLIN|unix.EPOLLRDHUP); err != nil {
			lp.broken(c, err)
		}
	}
}

// read takes what one read(2) gives of c's answer. The loop's epoll is
// level-triggered, so whatever is left is reported again.
func (lp *evLoop) read(c *evConn, now time.Duration) {
	if c.fd < 0 {
		return
	}
	if !c.inflight {
		// Bytes or an end while no request is out: a keep-alive
		// connection the server closed, or an answer nobody asked for.
		m, err := unix.Read(c.fd, c.buf)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
		case m > 0:
			lp.fail(ErrExtraBytes)
			lp.closeConn(c)
		default:
			lp.closeConn(c) // dialled again on the next send
		}
		return
	}
	if !c.body {
		if c.n == len(c.buf) {
			lp.broken(c, ErrBigHeaders)
			return
		}
		m, err := unix.Read(c.fd, c.buf[c.n:])
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		if err != nil {
			lp.broken(c, os.NewSyscallError("read", err))
			return
		}
		if m == 0 {
			lp.broken(c, fmt.Errorf("loadgen: connection closed after %d bytes of an answer: %w", c.n, io.ErrUnexpectedEOF))
			return
		}
		from := max(c.n-3, 0)
		c.n += m
		c.got += m
		i := bytes.Index(c.buf[from:c.n], crlfcrlf)
		if i < 0 {
			return
		}
		end := from + i
		status, length, shut, err := parseHead(c.buf[:end])
		if err != nil {
			lp.broken(c, err)
			return
		}
		have := c.n - (end + 4)
		if have > length {
			lp.broken(c, ErrExtraBytes)
			return
		}
		c.st, c.shut, c.rem, c.body = status, shut, length-have, true
	} else {
		m, err := unix.Read(c.fd, c.buf[:min(c.rem, len(c.buf))])
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		if err != nil {
			lp.broken(c, fmt.Errorf("loadgen: reading the body: %w", os.NewSyscallError("read", err)))
			return
		}
		if m == 0 {
			lp.broken(c, ErrShortBody)
			return
		}
		c.rem -= m
		c.got += m
	}
	if c.rem > 0 {
		return
	}
	c.served++
	if c.shut || len(c.out) > 0 {
		// Closing as asked; or the answer came before the whole request
		// was written (a 413 on the head, say), and the rest of it must
		// not be taken for the next request: stop sending (RFC 9112,
		// section 9.5) and use a fresh connection.
		lp.closeConn(c)
	}
	lp.lat.Record(now - c.origin)
	lp.record(c.st)
	lp.lastAnswer = max(lp.lastAnswer, now)
	c.inflight = false
	lp.inflight--
	c.freeAt = now
	if lp.cfg.Rate > 0 {
		lp.sendNextOpen(c, now)
	} else {
		lp.sendNextClosed(c, now)
	}
}

// broken handles a transport or framing error on c's request: a
// keep-alive connection the server closed while idle fails before any
// byte of the answer, and is sent again on a fresh one, once.
func (lp *evLoop) broken(c *evConn, err error) {
	reused := c.served > 0
	lp.closeConn(c)
	var te errTimeout
	if reused && c.got == 0 && !c.retried && !errors.As(err, &te) {
		c.retried = true
		lp.transmit(c, lp.since())
		return
	}
	lp.finish(c, err)
}

// finish ends c's request with err: the run fails, so nothing more is
// sent.
func (lp *evLoop) finish(c *evConn, err error) {
	lp.fail(err)
	if c.inflight {
		c.inflight = false
		lp.inflight--
	}
}

func (lp *evLoop) checkTimeouts(now time.Duration) {
	for _, c := range lp.conns {
		if c.inflight && now-c.sentAt >= lp.cfg.Timeout {
			lp.closeConn(c)
			lp.finish(c, errTimeout{lp.cfg.Timeout})
		}
	}
}

// abandon ends every request in flight after the loop itself failed.
func (lp *evLoop) abandon() {
	for _, c := range lp.conns {
		if c.inflight {
			c.inflight = false
			lp.inflight--
		}
	}
}

func (lp *evLoop) dial(c *evConn) error {
	fd, err := unix.Socket(lp.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if err := connect(fd, lp.sa, lp.cfg.Timeout); err != nil {
		unix.Close(fd)
		return fmt.Errorf("loadgen: dial %s: %w", lp.cfg.Addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("setsockopt", err)
	}
	c.fd, c.served, c.writing = fd, 0, false
	if err := lp.ctl(c, unix.EPOLL_CTL_ADD, unix.EPOLLIN|unix.EPOLLRDHUP); err != nil {
		unix.Close(fd)
		c.fd = -1
		return err
	}
	return nil
}

// connect connects the non-blocking socket fd to sa within timeout.
func connect(fd int, sa unix.Sockaddr, timeout time.Duration) error {
	err := unix.Connect(fd, sa)
	if err == nil {
		return nil
	}
	if err != unix.EINPROGRESS {
		return os.NewSyscallError("connect", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return errTimeout{timeout}
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		if err == unix.EINTR || (err == nil && n == 0) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("poll", err)
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return os.NewSyscallError("getsockopt", err)
		}
		if soerr != 0 {
			return os.NewSyscallError("connect", unix.Errno(soerr))
		}
		return nil
	}
}

func (lp *evLoop) ctl(c *evConn, op int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(c.id)}
	if err := unix.EpollCtl(lp.ep, op, c.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

func (lp *evLoop) closeConn(c *evConn) {
	if c.fd >= 0 {
		unix.Close(c.fd) // leaves the epoll set with its last descriptor
		c.fd, c.writing = -1, false
	}
}

// epollWait waits up to d (rounded up to 0) for events, with the
// nanosecond timeout of epoll_pwait2 where the kernel has it (5.11 on);
// epoll_wait's is whole milliseconds.
func epollWait(ep int, events []unix.EpollEvent, d time.Duration) (int, error) {
	d = max(d, 0)
	if pwait2.Load() {
		ts := unix.NsecToTimespec(d.Nanoseconds())
		n, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(ep), uintptr(unsafe.Pointer(&events[0])),
			uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			return 0, nil
		case unix.ENOSYS:
			pwait2.Store(false)
		default:
			return 0, os.NewSyscallError("epoll_pwait2", e)
		}
	}
	n, err := unix.EpollWait(ep, events, int((d+time.Millisecond-1)/time.Millisecond))
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	return n, nil
}

var pwait2 atomic.Bool

func init() { pwait2.Store(true) }
