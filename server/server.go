package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/clientip"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/password"
)

// Deps is everything the public API needs. Optional parts may be nil as
// noted.
type Deps struct {
	Store    safereset.Store
	Breach   safereset.BreachChecker
	Composer safereset.Composer
	// ComposerFor returns the composer of a user's locale (nil: Composer
	// for everyone).
	ComposerFor func(locale string) safereset.Composer
	// Sender delivers the confirmation mail synchronously.
	Sender safereset.Sender
	// NotifyOutbox wakes the outbox worker after a token mail was queued (nil ok).
	NotifyOutbox func()
	// Events turns events into webhook deliveries; nil sends none (the
	// audit trail is kept either way).
	Events safereset.EventPublisher
	// Verifier checks bearer JWTs; nil rejects every Authorization header with ER800.
	Verifier safereset.TokenVerifier
	// Limiter applies rate limits; nil disables them.
	Limiter safereset.Limiter
	// ClientIP derives the client address from the peer and its
	// forwarding header; the zero Resolver uses the peer address.
	ClientIP clientip.Resolver
	Hasher   *password.Hasher
	Metrics  *metrics.Metrics // nil ok
	Logger   *slog.Logger
	Now      func() time.Time

	TokenTTL       time.Duration // default 1h
	MaxOutstanding int           // default 3
	// PasswordHistory is --password-history N: a new password matching
	// the account's current hash or one of its N-1 previous ones is
	// refused with ER349 (0: off). The store keeps the hashes
	// (safereset.PasswordHistoryKeeper).
	PasswordHistory int
	ConfirmTimeout  time.Duration // default 10s
	// RequestFloor is the least time a token request that reaches the
	// store takes to answer, so that known and unknown addresses cannot be
	// told apart by timing (0 disables).
	RequestFloor time.Duration
	// ResetPage serves the reset page at /reset (SPEC §11); nil turns it off.
	ResetPage *ResetPage
	// MaxConnsPerIP bounds the open connections from one client address
	// (clientip.Key: IPv6 per /64) on each listener of a Server (0:
	// unlimited). Each can pin up to HardBodyLimit plus
	// ReadBufferSize for ReadTimeout.
	MaxConnsPerIP int
	// LabelKey keys the HMAC that stands in for a JWT subject that is not a
	// plain name (an email address) on log lines and metric labels; empty:
	// a random key for this process (labels change on restart).
	LabelKey []byte
}

func (d *Deps) defaults() error {
	if d.Store == nil || d.Breach == nil || d.Composer == nil || d.Sender == nil || d.Hasher == nil {
		return errors.New("server: store, breach checker, composer, sender and hasher are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if len(d.LabelKey) == 0 {
		d.LabelKey = make([]byte, LabelKeySize)
		if _, err := rand.Read(d.LabelKey); err != nil {
			return err
		}
	}
	if d.TokenTTL <= 0 {
		d.TokenTTL = time.Hour
	}
	if d.MaxOutstanding <= 0 {
		d.MaxOutstanding = 3
	}
	if d.ConfirmTimeout <= 0 {
		d.ConfirmTimeout = 10 * time.Second
	}
	if d.ComposerFor == nil {
		c := d.Composer
		d.ComposerFor = func(string) safereset.Composer { return c }
	}
	if d.NotifyOutbox == nil {
		d.NotifyOutbox = func() {}
	}
	if d.ResetPage != nil {
		if err := d.ResetPage.defaults(); err != nil {
			return err
		}
	}
	return nil
}

// Timeouts bound how long a connection may take, against slowloris clients
// and stuck peers.
const (
	ReadTimeout  = 10 * time.Second
	WriteTimeout = 60 * time.Second // argon2id work may queue behind the semaphore
	IdleTimeout  = 60 * time.Second
	// HardBodyLimit is where the HTTP layer of the public listener stops
	// reading; ER413 above it. fasthttp allocates a body of the announced
	// Content-Length up front, so this also bounds what an unauthenticated
	// connection can make the server hold: each idle connection that
	// announces a body pins up to this much.
	HardBodyLimit = 64 << 10
	// AdminBodyLimit is the ops listener's limit (user imports, sent by the
	// CLI in chunks below it). It is read before the admin token is
	// checked, so it stays small.
	AdminBodyLimit = 1 << 20
	// MaxConnections is the most connections one listener serves at once;
	// above it new connections are answered 503 and closed.
	MaxConnections = 16384
	// ReadBufferSize bounds request headers (fasthttp answers 431 above it).
	ReadBufferSize = 16 << 10
)

func fiberConfig(bodyLimit int, errorHandler fiber.ErrorHandler) fiber.Config {
	return fiber.Config{
		AppName:               "safereset",
		DisableStartupMessage: true,
		ReadTimeout:           ReadTimeout,
		WriteTimeout:          WriteTimeout,
		IdleTimeout:           IdleTimeout,
		BodyLimit:             bodyLimit,
		ReadBufferSize:        ReadBufferSize,
		ErrorHandler:          errorHandler,
		// Parse strictly: one Host, no case folding of routes.
		CaseSensitive:      true,
		StrictRouting:      true,
		UnescapePath:       false,
		EnableIPValidation: true,
		Concurrency:        MaxConnections,
		// A multipart body is a body like any other (not JSON: every field
		// missing), answered after authentication; parsed while reading,
		// a malformed one was refused before any handler ran.
		DisablePreParseMultipartForm: true,
	}
}

// Server is the two listeners of one process: the public API and the ops
// listener. Callers Listen, wait, and Shutdown; they never see Fiber.
type Server struct {
	public, ops *fiber.App
	maxConns    int
	publicAddr  net.Addr
	opsAddr     net.Addr
	errc        chan error
}

// New builds both apps from the same dependencies.
func New(d Deps, o Ops) (*Server, error) {
	public, err := NewPublic(d)
	if err != nil {
		return nil, err
	}
	ops, err := NewOps(d, o)
	if err != nil {
		return nil, err
	}
	return &Server{public: public, ops: ops, maxConns: d.MaxConnsPerIP, errc: make(chan error, 2)}, nil
}

// Listen binds addr (public API) and adminAddr (ops) and serves both in
// the background. Nothing is served unless both addresses could be bound.
func (s *Server) Listen(addr, adminAddr string) error {
	publicLn, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("public listener: %w", err)
	}
	opsLn, err := net.Listen("tcp", adminAddr)
	if err != nil {
		publicLn.Close()
		return fmt.Errorf("ops listener: %w", err)
	}
	s.publicAddr, s.opsAddr = publicLn.Addr(), opsLn.Addr()
	serve := func(app *fiber.App, ln net.Listener, name string) {
		if err := app.Listener(ln); err != nil {
			s.errc <- fmt.Errorf("%s listener: %w", name, err)
		}
	}
	go serve(s.public, newCapListener(publicLn, s.maxConns), "public")
	go serve(s.ops, newCapListener(opsLn, s.maxConns), "ops")
	return nil
}

// Addrs are the bound addresses of the public and the ops listener.
func (s *Server) Addrs() (public, ops net.Addr) { return s.publicAddr, s.opsAddr }

// Err reports a listener that stopped serving on its own.
func (s *Server) Err() <-chan error { return s.errc }

// Shutdown stops taking connections on both listeners and lets in-flight
// requests finish until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	if err := s.public.ShutdownWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("public listener: %w", err))
	}
	if err := s.ops.ShutdownWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("ops listener: %w", err))
	}
	return errors.Join(errs...)
}
