package server

import (
	"io"
	"net"
	"testing"
)

// fakeListener hands out one end of a pipe per queued peer address.
type fakeListener struct {
	conns chan net.Conn
}

func (l *fakeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *fakeListener) Close() error   { return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// addrConn is a pipe end that reports peer as its remote address.
type addrConn struct {
	net.Conn
	peer net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.peer }

// dial queues a connection from ip and returns the client's end.
func (l *fakeListener) dial(ip string) net.Conn {
	server, client := net.Pipe()
	l.conns <- addrConn{Conn: server, peer: &net.TCPAddr{IP: net.ParseIP(ip), Port: 4711}}
	return client
}

// TestCapListener: the cap counts per clientip.Key, so addresses of one
// IPv6 /64 share it; a connection over it reads a 429 and is closed; a
// closed connection frees its slot once.
func TestCapListener(t *testing.T) {
	fl := &fakeListener{conns: make(chan net.Conn, 16)}
	ln := newCapListener(fl, 2)

	accept := func(ip string) (accepted net.Conn, client net.Conn) {
		t.Helper()
		client = fl.dial(ip)
		done := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			done <- c
		}()
		return <-done, client
	}

	a1, _ := accept("2001:db8:1:2::1")
	a2, _ := accept("2001:db8:1:2::ffff") // same /64
	// A third from the same /64 is refused; the Accept then waits for the
	// next queued connection, from another /64.
	refused := fl.dial("2001:db8:1:2:aaaa::3")
	other := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		other <- c
	}()
	answer, _ := io.ReadAll(refused)
	if string(answer) != tooManyConns {
		t.Fatalf("refused connection read %q, want the 429", answer)
	}
	fl.dial("2001:db8:1:3::1")
	b := <-other
	if got := b.RemoteAddr().String(); got != "[2001:db8:1:3::1]:4711" {
		t.Fatalf("accepted %s, want the other /64", got)
	}

	// Closing twice frees one slot, not two.
	a1.Close()
	a1.Close()
	a3, _ := accept("2001:db8:1:2::3")
	if a3 == nil {
		t.Fatal("a freed slot was not reused")
	}
	cl := ln.(*capListener)
	cl.mu.Lock()
	n := cl.open["2001:db8:1:2::/64"]
	cl.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d connections counted for the /64, want 2", n)
	}
	a2.Close()
	a3.Close()
	b.Close()
	cl.mu.Lock()
	left := len(cl.open)
	cl.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d keys left after every connection closed", left)
	}
	if newCapListener(fl, 0) != net.Listener(fl) {
		t.Error("a cap of 0 should leave the listener as it is")
	}
}
