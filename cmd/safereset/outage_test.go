package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// cutProxy forwards TCP to a target until cut: then it drops every open
// connection and closes new ones at once, like a database that went away.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.set(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// set cuts (down) or restores the link.
func (p *cutProxy) set(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// An unreachable database: /readyz 503, a token request ER354, a reset
// ER999, nothing half-written; full service once it is back, and the
// token the outage refused is still the one live token.
func TestPostgres_DatabaseOutage(t *testing.T) {
	direct := migratedDB(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	s := startServer(t, "", "--database-url", u.String(), "--rate-reset-email", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("outage")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)

	proxy.set(true)
	if st := s.readyz(); st != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down: %d, want 503", st)
	}
	if r := s.post(key, alice); r.Status != 503 || !sameCodes(r.Codes(), "ER354") {
		t.Errorf("POST with the database down: %d %s; want 503 ER354", r.Status, r.Body)
	}
	if r := s.patch(key, alice, strongPW, strongPW, tok); r.Status != 500 || !sameCodes(r.Codes(), "ER999") {
		t.Errorf("PATCH with the database down: %d %s; want 500 ER999", r.Status, r.Body)
	}
	if strings.Contains(s.Log.String(), oldPW) || strings.Contains(s.Log.String(), tok) {
		t.Error("the outage logged a secret")
	}

	proxy.set(false)
	waitFor(t, func() bool { return s.readyz() == http.StatusOK }, "/readyz 200 after the database came back")
	if r := s.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("PATCH after the outage with the token: %d %s", r.Status, r.Body)
	}
	if r := s.patch(key, alice, strongPW+"x", strongPW+"x", tok); r.Status != 400 {
		t.Errorf("the token worked twice: %d", r.Status)
	}
	if !s.verify(alice, strongPW) {
		t.Error("the reset after the outage is not stored")
	}
	// The refused POST queued nothing: one token mail in all.
	if n := len(s.outboxTokens(alice)); n != 1 {
		t.Errorf("%d token mails, want 1", n)
	}
}

func (s *testServer) readyz() int {
	resp, err := http.Get(s.Admin + "/readyz")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var out json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode
}
