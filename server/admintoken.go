package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// MaxAdminTokenOverlap is the longest a replaced admin token may stay
// valid after a rotation.
const MaxAdminTokenOverlap = 24 * time.Hour

// ErrAdminTokenFixed is returned by a rotate function when the admin token
// comes from a source the server does not own (the environment, or a file
// the operator manages); the admin API answers 409.
var ErrAdminTokenFixed = errors.New("admin token source is managed by the operator")

// AdminTokens is the set of admin tokens the ops listener accepts: the
// current one and, for an overlap after a rotation, the one it replaced.
// It holds only SHA-256 sums and is safe for concurrent use.
type AdminTokens struct {
	now func() time.Time

	rotating sync.Mutex // one rotation at a time, persist and swap together

	mu        sync.RWMutex
	current   [sha256.Size]byte
	previous  [sha256.Size]byte
	prevUntil time.Time // zero: no previous token
}

// NewAdminTokens accepts token; now is the clock the overlap is measured on
// (nil: time.Now).
func NewAdminTokens(token string, now func() time.Time) (*AdminTokens, error) {
	if err := checkAdminToken(token); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &AdminTokens{now: now, current: sha256.Sum256([]byte(token))}, nil
}

func checkAdminToken(token string) error {
	if len(token) < 32 {
		return errors.New("server: admin token must be at least 32 characters")
	}
	return nil
}

// Set makes token the current admin token. The one it replaces stays valid
// for overlap (0: refused at once); any older one is refused. Setting the
// current token again changes nothing.
func (a *AdminTokens) Set(token string, overlap time.Duration) error {
	if err := checkAdminToken(token); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(token))
	a.mu.Lock()
	defer a.mu.Unlock()
	if sum == a.current {
		return nil
	}
	a.previous, a.prevUntil = a.current, time.Time{}
	if overlap > 0 {
		a.prevUntil = a.now().Add(overlap)
	}
	a.current = sum
	return nil
}

// Rotate persists a new token through persist and, once that succeeded,
// makes it current with Set(token, overlap). It returns the new token and
// until when the old one is accepted (zero: not at all).
func (a *AdminTokens) Rotate(persist func() (string, error), overlap time.Duration) (string, time.Time, error) {
	a.rotating.Lock()
	defer a.rotating.Unlock()
	tok, err := persist()
	if err != nil {
		return "", time.Time{}, err
	}
	if err := a.Set(tok, overlap); err != nil {
		return "", time.Time{}, err
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return tok, a.prevUntil, nil
}

// Valid reports whether got is the current token, or the previous one
// within its overlap. Both are compared in constant time.
func (a *AdminTokens) Valid(got string) bool {
	sum := sha256.Sum256([]byte(got))
	a.mu.RLock()
	cur, prev, until := a.current, a.previous, a.prevUntil
	a.mu.RUnlock()
	okCur := subtle.ConstantTimeCompare(sum[:], cur[:]) == 1
	okPrev := subtle.ConstantTimeCompare(sum[:], prev[:]) == 1 && !until.IsZero() && a.now().Before(until)
	return okCur || okPrev
}

// Fixed answers of POST /admin/v1/admin-token/rotate.
const (
	msgTokenOverlap = "overlap must be a duration from 0s to 24h"
	msgTokenFixed   = "the admin token comes from SAFERESET_ADMIN_TOKEN or --admin-token-file; change it there, then send SIGHUP (a file) or restart (the variable)"
)

// handleAdminTokenRotate replaces the admin token with one the server
// generates and persists itself, so the new file belongs to the server's
// user. The answer carries the new token (operators without access to the
// data dir need it); the caller's old token works for the overlap asked.
func handleAdminTokenRotate(d *Deps, o Ops) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in struct {
			Overlap string `json:"overlap"`
		}
		if len(bytes.TrimSpace(rawBody(c))) > 0 {
			if err := decodeAdmin(c, &in); err != nil {
				return err
			}
		}
		var overlap time.Duration
		if in.Overlap != "" {
			var err error
			overlap, err = time.ParseDuration(in.Overlap)
			if err != nil || overlap < 0 || overlap > MaxAdminTokenOverlap {
				return adminFail(fiber.StatusBadRequest, msgTokenOverlap)
			}
		}
		if o.RotateAdminToken == nil {
			return adminFail(fiber.StatusConflict, msgTokenFixed)
		}
		tok, until, err := o.AdminTokens.Rotate(o.RotateAdminToken, overlap)
		switch {
		case errors.Is(err, ErrAdminTokenFixed):
			return adminFail(fiber.StatusConflict, msgTokenFixed)
		case err != nil:
			return internal(fmt.Errorf("admin: rotate admin token: %w", err))
		}
		d.Logger.Info("admin token rotated", "request_id", requestIDOf(c), "overlap", overlap.String())
		body := fiber.Map{"token": tok, "previousValidUntil": nil}
		if !until.IsZero() {
			body["previousValidUntil"] = until.UTC().Format(time.RFC3339)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(body)
	}
}
