package server

import (
	"net"
	"net/netip"
	"sync"
)

// capListener bounds the open connections per client on one listener: an
// IPv4 client per address, an IPv6 client per /64, the block one
// subscriber usually holds (the rate limiter counts alike). Counting exact
// IPv6 addresses let 40 addresses of one /64 hold 10,000 connections.
// A connection over the cap is closed as soon as it is accepted, before
// anything is read from it.
type capListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[netip.Addr]int
}

// capConns wraps ln with a cap of max open connections per client; max 0
// is no cap.
func capConns(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &capListener{Listener: ln, max: max, open: make(map[netip.Addr]int)}
}

// clientKey is the address a connection counts under: IPv4 (also when
// mapped into IPv6) as itself, IPv6 as its /64 prefix.
func clientKey(a net.Addr) netip.Addr {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return ip
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.Addr()
}

// Accept returns the next connection whose client is under the cap.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		l.mu.Lock()
		if l.open[key] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &cappedConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *capListener) done(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// cappedConn gives its client's slot back when it is closed.
type cappedConn struct {
	net.Conn
	l    *capListener
	key  netip.Addr
	once sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.done(c.key) })
	return err
}
