package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Stage is the point of an SMTP transaction a Behavior acts at.
type Stage string

// The stages a Behavior can act at.
const (
	StageData Stage = "DATA" // after the message was received (the default)
	StageRcpt Stage = "RCPT" // at RCPT TO
	StageMail Stage = "MAIL" // at MAIL FROM
)

// Behavior is how the server answers one transaction (one message). The
// zero value accepts the message at once.
type Behavior struct {
	// Delay waits this long at Stage before answering (Stop interrupts it).
	Delay time.Duration
	// Gate, when not nil, holds the answer at Stage until Gate is closed
	// (or Stop): a barrier that lets a test act while a send is in flight.
	// Use WaitAttempts to learn that the transaction has begun.
	Gate <-chan struct{}
	// Code, when not 0, is the 4xx or 5xx reply given at Stage instead of
	// accepting; Message is its text (a default is used when empty).
	Code    int
	Message string
	// Drop closes the connection at Stage without any reply. At StageData
	// the whole message has been read: the client cannot tell whether it
	// was delivered.
	Drop bool
	// Stage is where Delay, Code and Drop apply; default StageData.
	Stage Stage
}

// Accept is the behaviour that accepts a message at once.
var Accept = Behavior{}

// Reply returns a behaviour answering code (4xx or 5xx) after DATA.
func Reply(code int) Behavior { return Behavior{Code: code} }

// Message is one message the server accepted.
type Message struct {
	From     string
	To       []string
	Data     []byte // the raw message as received (CRLF line ends)
	TLS      bool   // whether the session was encrypted (STARTTLS or implicit TLS)
	AuthUser string // the user name that authenticated, "" without AUTH
}

// Parse decodes m.Data; see Parse.
func (m Message) Parse() (Parsed, error) { return Parse(m.Data) }

// Option configures Start.
type Option func(*config)

type config struct {
	user, pass  string
	auth        bool
	starttls    bool
	implicitTLS bool
}

// WithAuth makes the server offer AUTH PLAIN and refuse MAIL FROM (530)
// until a client authenticated as user with pass.
func WithAuth(user, pass string) Option {
	return func(c *config) { c.auth, c.user, c.pass = true, user, pass }
}

// WithSTARTTLS makes the server offer STARTTLS with a self-signed
// certificate for 127.0.0.1 and localhost; CAFile and CertPool trust it.
func WithSTARTTLS() Option { return func(c *config) { c.starttls = true } }

// WithImplicitTLS makes the server speak TLS from the first byte (smtps),
// with the same self-signed certificate as WithSTARTTLS.
func WithImplicitTLS() Option { return func(c *config) { c.implicitTLS = true } }

// Server is a running test SMTP server. Its methods are safe for
// concurrent use.
type Server struct {
	t      testing.TB
	cfg    config
	addr   string
	tlsCfg *tls.Config
	pool   *x509.CertPool
	caFile string

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	stopped  chan struct{} // closed by Stop; interrupts delays
	script   []Behavior
	def      Behavior
	msgs     []Message
	attempts int
	changed  chan struct{} // closed and replaced whenever msgs or attempts grow
}

// Start starts a server on 127.0.0.1 on a free port and stops it when the
// test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, changed: make(chan struct{})}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.starttls || s.cfg.implicitTLS {
		s.makeCert(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) serve(ln net.Listener) {
	if s.cfg.implicitTLS {
		ln = tls.NewListener(ln, s.tlsCfg)
	}
	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = "mailtest.localhost"
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.cfg.starttls {
		srv.TLSConfig = s.tlsCfg
	}
	s.mu.Lock()
	s.srv = srv
	s.ln = ln
	s.stopped = make(chan struct{})
	s.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // returns when Stop closes the listener
}

// Stop closes the listener and every open connection. Clients then get
// "connection refused" until Restart. Stop is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	if srv != nil {
		close(s.stopped)
	}
	s.mu.Unlock()
	if srv != nil {
		// Close the listener ourselves too: srv.Serve registers it in its
		// own goroutine, which may not have run yet.
		ln.Close()
		srv.Close()
	}
}

// Restart starts the server again on the same address after Stop (it
// stops it first if it is running). Recorded messages and the script are
// kept.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("mailtest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// Addr returns the server's "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// Port returns the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// URL returns an --smtp-url for this server: smtp:// (smtps:// with
// WithImplicitTLS), with the WithAuth credentials when set.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	if s.cfg.implicitTLS {
		u.Scheme = "smtps"
	}
	if s.cfg.auth {
		u.User = url.UserPassword(s.cfg.user, s.cfg.pass)
	}
	return u.String()
}

// CAFile returns the path of a PEM file holding the server's self-signed
// certificate, or "" when the server has no TLS.
func (s *Server) CAFile() string { return s.caFile }

// CertPool returns a pool trusting the server's certificate (nil without TLS).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Script queues behaviours: each new transaction takes the next one; when
// the queue is empty the default applies.
func (s *Server) Script(b ...Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, b...)
}

// SetDefault sets the behaviour for transactions with no scripted one
// (initially Accept).
func (s *Server) SetDefault(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = b
}

// Messages returns a copy of the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Attempts returns how many transactions (MAIL FROM commands) the server
// has seen, whether it accepted them or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Wait blocks until at least n messages were accepted and returns them, or
// returns an error after timeout.
func (s *Server) Wait(n int, timeout time.Duration) ([]Message, error) {
	var msgs []Message
	err := s.waitUntil(timeout, "messages", func() (bool, int) {
		if len(s.msgs) >= n {
			msgs = append([]Message(nil), s.msgs...)
		}
		return len(s.msgs) >= n, len(s.msgs)
	}, n)
	return msgs, err
}

// WaitAttempts blocks until the server has seen at least n transactions
// (see Attempts), or returns an error after timeout.
func (s *Server) WaitAttempts(n int, timeout time.Duration) error {
	return s.waitUntil(timeout, "attempts", func() (bool, int) { return s.attempts >= n, s.attempts }, n)
}

// waitUntil waits, without polling, until cond (called with s.mu held)
// holds.
func (s *Server) waitUntil(timeout time.Duration, what string, cond func() (bool, int), n int) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok, have := cond()
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("mailtest: timed out after %v waiting for %d %s, have %d", timeout, n, what, have)
		}
	}
}

// WaitFor is Wait that fails the test on timeout.
func (s *Server) WaitFor(n int, timeout time.Duration) []Message {
	s.t.Helper()
	msgs, err := s.Wait(n, timeout)
	if err != nil {
		s.t.Fatal(err)
	}
	return msgs
}

func (s *Server) next() (Behavior, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	s.broadcast()
	b := s.def
	if len(s.script) > 0 {
		b, s.script = s.script[0], s.script[1:]
	}
	if b.Stage == "" {
		b.Stage = StageData
	}
	return b, s.stopped
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	s.broadcast()
}

// broadcast wakes every waiter; s.mu must be held.
func (s *Server) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) makeCert(t testing.TB) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("mailtest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	s.pool = x509.NewCertPool()
	s.pool.AddCert(cert)
	s.tlsCfg = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	s.caFile = filepath.Join(t.TempDir(), "mailtest-ca.pem")
	if err := os.WriteFile(s.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatalf("mailtest: write CA file: %v", err)
	}
}

type backend struct{ s *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, conn: c, tls: isTLS}, nil
}

type session struct {
	s        *Server
	conn     *smtp.Conn
	tls      bool
	authUser string

	b       Behavior
	stopped <-chan struct{}
	from    string
	to      []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if !ss.s.cfg.auth {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if !ss.s.cfg.auth || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.cfg.user || pass != ss.s.cfg.pass || (identity != "" && identity != user) {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		ss.authUser = user
		return nil
	}), nil
}

// act applies the transaction's behaviour if it belongs to stage.
func (ss *session) act(stage Stage) error {
	if ss.b.Stage != stage {
		return nil
	}
	if ss.b.Gate != nil {
		select {
		case <-ss.b.Gate:
		case <-ss.stopped:
		}
	}
	if ss.b.Delay > 0 {
		timer := time.NewTimer(ss.b.Delay)
		select {
		case <-timer.C:
		case <-ss.stopped:
			timer.Stop()
		}
	}
	if ss.b.Drop {
		ss.conn.Close()
		return errors.New("connection dropped")
	}
	if ss.b.Code != 0 {
		msg := ss.b.Message
		if msg == "" {
			msg = "scripted reply " + strconv.Itoa(ss.b.Code)
		}
		enh := smtp.EnhancedCode{ss.b.Code / 100, 0, 0}
		return &smtp.SMTPError{Code: ss.b.Code, EnhancedCode: enh, Message: msg}
	}
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.auth && ss.authUser == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	ss.b, ss.stopped = ss.s.next()
	ss.from = from
	return ss.act(StageMail)
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := ss.act(StageRcpt); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.act(StageData); err != nil {
		return err
	}
	ss.s.record(Message{From: ss.from, To: append([]string(nil), ss.to...), Data: data, TLS: ss.tls, AuthUser: ss.authUser})
	return nil
}

func (ss *session) Reset() {
	ss.from, ss.to, ss.b = "", nil, Behavior{}
}

func (ss *session) Logout() error { return nil }
