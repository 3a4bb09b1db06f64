package server

import (
	"net"
	"sync"
	"time"

	"github.com/safereset/safereset/clientip"
)

// capListener accepts at most max open connections per client, counted
// under clientip.Key of the peer (IPv6 per /64, like the rate limiter), so
// rotating addresses inside one subscriber's block gives no new
// connections. A connection over the cap is answered 429 and closed.
type capListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int
}

func newCapListener(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &capListener{Listener: ln, max: max, open: make(map[string]int)}
}

// tooManyConns is the whole answer to a connection over the cap.
const tooManyConns = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := peerKey(c)
		l.mu.Lock()
		if l.open[key] >= l.max {
			l.mu.Unlock()
			go refuse(c)
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &cappedConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *capListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte(tooManyConns))
	_ = c.Close()
}

func peerKey(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return clientip.Key(a.IP.String())
	}
	return c.RemoteAddr().String()
}

// cappedConn gives its slot back when it is closed, once.
type cappedConn struct {
	net.Conn
	l    *capListener
	key  string
	once sync.Once
}

func (c *cappedConn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}
