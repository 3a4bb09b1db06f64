package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/password"
)

// Password length bounds in code points after NFKC (SPEC §2.4).
const (
	MinPasswordLen = 8
	MaxPasswordLen = 64
)

const (
	fieldEmail    = "emailAddress"
	fieldPassword = "password"
	fieldVerify   = "passwordVerify"
	fieldToken    = "token"
)

// limitIP applies the per-IP limit of route; it runs before authentication.
func limitIP(d *Deps, route safereset.LimitRoute) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ip := clientIP(c, d.ClientIP)
		if d.Limiter == nil {
			return c.Next()
		}
		res, err := d.Limiter.Take(c.UserContext(), route, safereset.LimitIP, ip)
		if err != nil {
			return internal(fmt.Errorf("ratelimit: ip: %w", err))
		}
		ls := limitsOf(c)
		ls.add(res)
		if res.Reached {
			return limited(c, d, ls, route, safereset.LimitIP)
		}
		return c.Next()
	}
}

const localsLimits = "safereset.limits"

func limitsOf(c *fiber.Ctx) *limitState {
	if ls, ok := c.Locals(localsLimits).(*limitState); ok {
		return ls
	}
	ls := &limitState{}
	c.Locals(localsLimits, ls)
	return ls
}

func limited(c *fiber.Ctx, d *Deps, ls *limitState, route safereset.LimitRoute, kind safereset.LimitKind) error {
	d.Metrics.RateLimited(route, kind)
	ls.setHeaders(c, d.Now())
	return failWith(safereset.ER429)
}

// limitEmail counts the request against the per-email bucket of route.
// It returns true when the request has been answered with ER429.
func limitEmail(c *fiber.Ctx, d *Deps, route safereset.LimitRoute, email field) (bool, error) {
	ls := limitsOf(c)
	// Only a valid address has a bucket: an invalid one is refused anyway
	// and changes nothing, and bucketing it would let garbage addresses
	// grow the limiter's memory.
	if d.Limiter != nil && email.ok() && safereset.ValidEmail(email.str) {
		res, err := d.Limiter.Take(c.UserContext(), route, safereset.LimitEmail, email.str)
		if err != nil {
			return true, internal(fmt.Errorf("ratelimit: email: %w", err))
		}
		ls.add(res)
		if res.Reached {
			return true, limited(c, d, ls, route, safereset.LimitEmail)
		}
	}
	// Successful and failed answers alike carry the limit headers.
	ls.setHeaders(c, d.Now())
	return false, nil
}

// rawBody is the body exactly as it arrived. Fiber's c.Body() inflates
// gzip, deflate and brotli bodies by Content-Encoding with no size limit,
// so 589 bytes of nested gzip became 256 MiB in memory before any size
// check; safereset never decompresses (a compressed body is not JSON and
// counts as every field missing).
func rawBody(c *fiber.Ctx) []byte { return c.Request().Body() }

// readBody returns the raw body, or ok=false when it is over MaxBodyBytes
// (the caller answers ER413).
func readBody(c *fiber.Ctx) ([]byte, bool) {
	body := rawBody(c)
	if len(body) > MaxBodyBytes {
		return nil, false
	}
	return body, true
}

// checkEmail applies the emailAddress rules (ER003, ER001).
func checkEmail(f field, codes *safereset.Codes) bool {
	switch {
	case !f.ok():
		codes.Add(safereset.ER003)
	case !safereset.ValidEmail(f.str):
		codes.Add(safereset.ER001)
	default:
		return true
	}
	return false
}

// handleRequestToken is POST /api/v1/user/reset-password (SPEC §2.3). The
// answer is the same 202 whether or not an account has the address, and
// the request does the same work for both: the store renders and seals a
// mail and commits one write transaction (shared with concurrent requests)
// either way, and the answer waits for RequestFloor. What differs, the
// mail worker sending the mail and deleting its entry, starts only after
// the answer has gone out (see wakeDelay).
func handleRequestToken(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		body, ok := readBody(c)
		if !ok {
			return failWith(safereset.ER413)
		}
		fields, _ := decodeObject(body, fieldEmail)
		email := fields[fieldEmail]
		if done, err := limitEmail(c, d, safereset.RouteRequest, email); done {
			return err
		}
		var codes safereset.Codes
		if !checkEmail(email, &codes) {
			return fail(codes)
		}
		// From here on the data differs for known and unknown addresses (a
		// token and a mail are stored for a known one): answer no sooner
		// than the floor either way.
		floor := time.Now().Add(d.RequestFloor)
		wake := func() {}
		defer func() {
			time.Sleep(time.Until(floor))
			// The same timer for both kinds; for a known address it wakes
			// the worker once this answer is out, so sending and deleting
			// the mail never run beside it.
			time.AfterFunc(wakeDelay, wake)
		}()

		token, hash, err := newResetToken()
		if err != nil {
			return internal(fmt.Errorf("request token: generate: %w", err))
		}
		now := d.Now()
		tok := safereset.ResetToken{Hash: hash, CreatedAt: now, ExpiresAt: now.Add(d.TokenTTL)}
		found, err := d.Store.RequestReset(c.UserContext(), safereset.NormalizeEmail(email.str), tok, d.MaxOutstanding,
			func(u safereset.User) (safereset.Message, time.Time, error) {
				m, err := d.Composer.TokenMail(u.Email, token, tok.ExpiresAt)
				return m, tok.ExpiresAt, err
			})
		if err != nil {
			return failCause(safereset.ER354, fmt.Errorf("request token: store: %w", err))
		}
		if found {
			wake = d.NotifyOutbox
		}
		setCodes(c, nil)
		c.Status(fiber.StatusAccepted)
		return nil
	}
}

// wakeDelay is how long after a token request's answer leaves the
// handler the mail worker is woken: enough for the response to be written
// to the socket, far below what a user waiting for the mail notices.
const wakeDelay = 2 * time.Millisecond

// newResetToken returns 16 random bytes as 32 lowercase hex characters and
// the SHA-256 that is stored in its place.
func newResetToken() (string, [32]byte, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", [32]byte{}, err
	}
	t := hex.EncodeToString(b[:])
	return t, sha256.Sum256([]byte(t)), nil
}

func wellFormedToken(t string) bool {
	if len(t) != 32 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if !('0' <= t[i] && t[i] <= '9' || 'a' <= t[i] && t[i] <= 'f') {
			return false
		}
	}
	return true
}

// handleResetPassword is PATCH /api/v1/user/reset-password (SPEC §2.4).
func handleResetPassword(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		body, ok := readBody(c)
		if !ok {
			return failWith(safereset.ER413)
		}
		f, _ := decodeObject(body, fieldEmail, fieldPassword, fieldVerify, fieldToken)
		if err := resetPassword(c, d, f[fieldEmail], f[fieldPassword], f[fieldVerify], f[fieldToken]); err != nil {
			return err
		}
		setCodes(c, nil)
		c.Status(fiber.StatusNoContent)
		return nil
	}
}

// resetPassword applies every rule of a reset (SPEC §2.4) and, when all
// hold, sets the new password and sends the confirmation mail. Both the
// PATCH route and the reset page's form call it, so the two cannot drift:
// a failure is an *HTTPError whose Codes are the seed's, and on any error
// nothing has changed (except after ER355, when the password was reset).
func resetPassword(c *fiber.Ctx, d *Deps, email, pw, verify, token field) error {
	{
		ctx := c.UserContext()
		emailKey := safereset.NormalizeEmail(email.str)

		// The token is looked up first (only for a valid address) so that a
		// request carrying the live token of its address is not charged to
		// the per-address bucket: otherwise anyone could send ten bad
		// guesses an hour for an address and lock its owner out of
		// resetting. Guesses are charged and limited as before.
		var tokHash [32]byte
		tokErr := safereset.ErrTokenInvalid
		if token.ok() && wellFormedToken(token.str) && email.ok() && safereset.ValidEmail(email.str) {
			tokHash = sha256.Sum256([]byte(token.str))
			tokErr = d.Store.CheckToken(ctx, emailKey, tokHash, d.Now())
			if tokErr != nil && !errors.Is(tokErr, safereset.ErrTokenInvalid) && !errors.Is(tokErr, safereset.ErrTokenExpired) {
				return internal(fmt.Errorf("reset: check token: %w", tokErr))
			}
		}
		if tokErr != nil {
			if done, err := limitEmail(c, d, safereset.RouteReset, email); done {
				return err
			}
		} else {
			limitsOf(c).setHeaders(c, d.Now())
		}

		var codes safereset.Codes
		emailOK := checkEmail(email, &codes)

		if !pw.ok() {
			codes.Add(safereset.ER004)
		} else if n := password.Length(pw.str); n < MinPasswordLen {
			codes.Add(safereset.ER122)
		} else if n > MaxPasswordLen {
			codes.Add(safereset.ER123)
		} else {
			var err error
			// The normalized (trimmed) address: with the raw string, a
			// leading space made the local part " alicia" and let
			// "alicia-…" through. The checker derives the local part.
			inputs := []string{}
			if emailKey != "" {
				inputs = append(inputs, emailKey)
			}
			var v safereset.Verdict
			if derr := d.Hasher.Do(ctx, func() { v, err = d.Breach.Check(pw.str, inputs) }); derr != nil {
				err = derr
			}
			switch {
			case err != nil:
				// Fail closed: a password that could not be checked is not set.
				d.Metrics.BreachCheck(metrics.BreachError)
				return internal(fmt.Errorf("reset: breach check: %w", err))
			case v.Breached:
				d.Metrics.BreachCheck(metrics.BreachBreached)
				codes.Add(safereset.ER349)
			case v.Weak:
				d.Metrics.BreachCheck(metrics.BreachWeak)
				codes.Add(safereset.ER349)
			default:
				d.Metrics.BreachCheck(metrics.BreachOK)
			}
		}
		// Compared in NFKC form, the form that is hashed; a missing or
		// non-string value counts as "".
		if password.Normalize(verify.str) != password.Normalize(pw.str) {
			codes.Add(safereset.ER350)
		}

		switch {
		case !token.ok():
			codes.Add(safereset.ER351)
		case !wellFormedToken(token.str):
			codes.Add(safereset.ER352)
		case emailOK && errors.Is(tokErr, safereset.ErrTokenInvalid):
			codes.Add(safereset.ER352)
		case emailOK && errors.Is(tokErr, safereset.ErrTokenExpired):
			codes.Add(safereset.ER353)
		}
		if len(codes) > 0 {
			return fail(codes)
		}

		phc, err := d.Hasher.Hash(ctx, pw.str)
		if err != nil {
			return internal(fmt.Errorf("reset: hash password: %w", err))
		}
		// The token is checked again inside the write transaction: of two
		// requests racing with one token, exactly one gets here first.
		user, err := d.Store.ResetPassword(ctx, emailKey, tokHash, phc, d.Now())
		switch {
		case errors.Is(err, safereset.ErrTokenInvalid):
			return failWith(safereset.ER352)
		case errors.Is(err, safereset.ErrTokenExpired):
			return failWith(safereset.ER353)
		case err != nil:
			return internal(fmt.Errorf("reset: store: %w", err))
		}
		d.Logger.Info("password reset", slog.String("request_id", requestIDOf(c)), slog.Uint64("user_id", user.ID))

		if err := sendConfirmation(ctx, d, user); err != nil {
			d.Metrics.MailSend(safereset.MailConfirmation, metrics.MailFailed)
			return failCause(safereset.ER355, fmt.Errorf("reset: confirmation mail to user %d failed; password was reset: %w", user.ID, err))
		}
		d.Metrics.MailSend(safereset.MailConfirmation, metrics.MailSent)
		return nil
	}
}

func sendConfirmation(ctx context.Context, d *Deps, u safereset.User) error {
	m, err := d.Composer.ConfirmationMail(u.Email, u.PasswordChangedAt)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.ConfirmTimeout)
	defer cancel()
	return d.Sender.Send(ctx, m)
}
