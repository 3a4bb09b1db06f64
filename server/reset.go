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

// rawBody is the body exactly as it arrived. Fiber's c.Body() inflates
// gzip, deflate and brotli bodies by Content-Encoding with no size limit,
// so a few hundred bytes of nested gzip could fill memory before any size
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
		email := decodeObject(body, fieldEmail)[fieldEmail].str
		if done, err := limitEmail(c, d, safereset.RouteRequest, email); done {
			return err
		}
		var codes safereset.Codes
		if addEmailCodes(email, &codes); len(codes) > 0 {
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
		// The lock token is made for every request, known address or not,
		// so that both cost the same.
		var lockToken string
		if d.ResetPage != nil {
			if lockToken, tok.Lock, err = newLockToken(now, d.ResetPage.LockTTL); err != nil {
				return internal(fmt.Errorf("request token: generate lock token: %w", err))
			}
		}
		found, err := d.Store.RequestReset(c.UserContext(), safereset.NormalizeEmail(email), tok, d.MaxOutstanding,
			func(u safereset.User) (safereset.Message, time.Time, error) {
				m, err := d.ComposerFor(u.Locale).TokenMailWithLock(u.Email, token, lockToken, tok.ExpiresAt)
				return m, tok.ExpiresAt, err
			}, userChange(c, d, safereset.AuditTokenRequested, safereset.EventResetRequested))
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
		if err := resetPassword(c, d, decodeReset(body)); err != nil {
			return err
		}
		setCodes(c, nil)
		c.Status(fiber.StatusNoContent)
		return nil
	}
}

// resetPassword applies every rule of a reset (SPEC §2.4) and, when all
// hold, sets the new password and sends the confirmation mail. The PATCH
// route and the reset page's form both call it, so their codes, limits and
// single use cannot drift. A failure is an *HTTPError carrying the seed's
// codes; on any failure nothing has changed, except after ER355 (the
// password was reset, only the confirmation mail failed).
func resetPassword(c *fiber.Ctx, d *Deps, r resetRequest) error {
	ctx := c.UserContext()
	emailKey := safereset.NormalizeEmail(r.Email)

	// The token is looked up first (only for a valid address) so that a
	// request carrying the live token of its address is not charged to
	// the per-address bucket: otherwise anyone could send ten bad
	// guesses an hour for an address and lock its owner out of
	// resetting. Guesses are charged and limited as before.
	var tokHash [32]byte
	tokErr := safereset.ErrTokenInvalid
	if r.tokenLookup() {
		tokHash = sha256.Sum256([]byte(r.Token))
		tokErr = d.Store.CheckToken(ctx, emailKey, tokHash, d.Now())
		if tokErr != nil && !errors.Is(tokErr, safereset.ErrTokenInvalid) && !errors.Is(tokErr, safereset.ErrTokenExpired) {
			return internal(fmt.Errorf("reset: check token: %w", tokErr))
		}
	}
	if tokErr != nil {
		if done, err := limitEmail(c, d, safereset.RouteReset, r.Email); done {
			return err
		}
	} else {
		limitsOf(c).setHeaders(c, d.Now())
	}

	var verdict *safereset.Verdict
	if r.passwordLengthOK() {
		v, err := breachCheck(ctx, d, r.Password, emailKey, tokErr == nil)
		if err != nil {
			// Fail closed: a password that could not be checked is not set.
			return internal(fmt.Errorf("reset: breach check: %w", err))
		}
		verdict = &v
	}
	if codes := r.validate(tokErr, verdict); len(codes) > 0 {
		return fail(codes)
	}
	// Every cheap rule held and the token is live: only now may the
	// history comparison spend hashing slots.
	if reused, err := reusedPassword(ctx, d, emailKey, r.Password); err != nil {
		return internal(fmt.Errorf("reset: password history: %w", err))
	} else if reused {
		return failWith(safereset.ER349)
	}

	phc, err := d.Hasher.Hash(ctx, r.Password)
	if err != nil {
		return internal(fmt.Errorf("reset: hash password: %w", err))
	}
	// The token is checked again inside the write transaction: of two
	// requests racing with one token, exactly one gets here first.
	user, err := d.Store.ResetPassword(ctx, emailKey, tokHash, phc, d.Now(),
		userChange(c, d, safereset.AuditPasswordChanged, safereset.EventPasswordChanged))
	switch {
	case errors.Is(err, safereset.ErrTokenInvalid):
		return failWith(safereset.ER352)
	case errors.Is(err, safereset.ErrTokenExpired):
		return failWith(safereset.ER353)
	case err != nil:
		return internal(fmt.Errorf("reset: store: %w", err))
	}
	d.Logger.Info("password reset", slog.String("request_id", requestIDOf(c)), slog.Uint64("user_id", user.ID))
	if d.Events != nil && d.NotifyOutbox != nil {
		d.NotifyOutbox() // password.changed is queued
	}

	if err := sendConfirmation(ctx, d, user); err != nil {
		d.Metrics.MailSend(safereset.MailConfirmation, metrics.MailFailed)
		return failCause(safereset.ER355, fmt.Errorf("reset: confirmation mail to user %d failed; password was reset: %w", user.ID, err))
	}
	d.Metrics.MailSend(safereset.MailConfirmation, metrics.MailSent)
	return nil
}

// breachCheck checks a new password against the breach filter and its
// strength, inside a hashing slot, and counts the result.
// breachCheck judges the new password. The strength estimate (about a
// millisecond of zxcvbn, in a hashing slot) runs only when canSucceed: for
// a request carrying the live token of its address (SPEC §2.4). A guess is
// answered from the cheap rules, outside the slots, so refusing one costs
// what a validation error costs; the live token's request still gets
// every code.
func breachCheck(ctx context.Context, d *Deps, pw, emailKey string, canSucceed bool) (safereset.Verdict, error) {
	// The normalized (trimmed) address: with the raw string, a leading
	// space made the local part " alicia" and let "alicia-…" through. The
	// checker derives the local part.
	inputs := []string{}
	if emailKey != "" {
		inputs = append(inputs, emailKey)
	}
	var (
		v   safereset.Verdict
		err error
	)
	if quick, ok := d.Breach.(safereset.QuickChecker); ok && !canSucceed {
		v, err = quick.CheckQuick(pw, inputs)
	} else if derr := d.Hasher.Do(ctx, func() { v, err = d.Breach.Check(pw, inputs) }); derr != nil {
		err = derr
	}
	switch {
	case err != nil:
		d.Metrics.BreachCheck(metrics.BreachError)
	case v.Breached:
		d.Metrics.BreachCheck(metrics.BreachBreached)
	case v.Weak:
		d.Metrics.BreachCheck(metrics.BreachWeak)
	default:
		d.Metrics.BreachCheck(metrics.BreachOK)
	}
	return v, err
}

func sendConfirmation(ctx context.Context, d *Deps, u safereset.User) error {
	m, err := d.ComposerFor(u.Locale).ConfirmationMailWithLock(u.Email, confirmationLock(ctx, d, u), u.PasswordChangedAt)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.ConfirmTimeout)
	defer cancel()
	return d.Sender.Send(ctx, m)
}
