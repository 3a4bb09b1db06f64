package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/server/page"
)

// Defaults of ResetPage's lock settings.
const (
	DefaultLockDuration = 24 * time.Hour
	DefaultLockTTL      = 7 * 24 * time.Hour
)

const (
	notMePath = "/reset/not-me"
	// lockCSRFContext keeps the lock form's MAC apart from the reset
	// form's, so neither form's value is accepted by the other.
	lockCSRFContext = "safereset not-me csrf v1\x00"
	// lockTimeLayout is how the done page says when the lock ends, as
	// the mails write times.
	lockTimeLayout = "2006-01-02 15:04 UTC"
)

// newLockToken makes a "this wasn't me" token the way reset tokens are
// made, valid from now for ttl. Only its hash is stored.
func newLockToken(now time.Time, ttl time.Duration) (string, safereset.LockToken, error) {
	text, hash, err := newResetToken()
	if err != nil {
		return "", safereset.LockToken{}, err
	}
	return text, safereset.LockToken{Hash: hash, CreatedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

// confirmationLock stores a lock token for the confirmation mail of u and
// returns its text, or "" when the page is off or the token could not be
// stored: the mail then goes without the link, since telling the user
// that the password changed matters more than the link.
func confirmationLock(ctx context.Context, d *Deps, u safereset.User) string {
	if d.ResetPage == nil {
		return ""
	}
	text, lt, err := newLockToken(d.Now(), d.ResetPage.LockTTL)
	if err == nil {
		err = d.Store.AddLockToken(ctx, safereset.NormalizeEmail(u.Email), lt)
	}
	if err != nil {
		d.Logger.Error("confirmation mail goes without its lock link", slog.Uint64("user_id", u.ID), slog.String("error", err.Error()))
		return ""
	}
	return text
}

// lockProblem renders why a lock link cannot be used, counted under the
// reset token's codes (ER351 none, ER352 invalid or used, ER353 expired).
func (p pageCtx) lockProblem(c *fiber.Ctx, code safereset.Code) error {
	t := page.TextsFor(p.lang)
	pr := t.LockInvalid
	if code == safereset.ER353 {
		pr = t.LockExpired
	}
	codes := safereset.Codes{code: {}}
	setCodes(c, codes)
	return p.message(c, codes.Status(), t.TitleLink, &pr, false)
}

// lockTokenHash returns the hash of a well-formed lock token for a valid
// address, or ok=false.
func lockTokenHash(token, email string) (hash [32]byte, ok bool) {
	if !wellFormedToken(token) || !safereset.ValidEmail(email) {
		return hash, false
	}
	return sha256.Sum256([]byte(token)), true
}

// lockCode maps the store's answer about a lock token to the code shown.
func lockCode(err error) (safereset.Code, bool) {
	switch {
	case errors.Is(err, safereset.ErrTokenInvalid), errors.Is(err, safereset.ErrUserNotFound):
		return safereset.ER352, true
	case errors.Is(err, safereset.ErrTokenExpired):
		return safereset.ER353, true
	}
	return "", false
}

// handleNotMe is GET /reset/not-me: the one-button page, or why the link
// cannot be used. It changes nothing: mail scanners open links.
func handleNotMe(d *Deps, r *page.Renderer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := newPageCtx(c, d, r)
		token, email := strings.Clone(c.Query("token")), strings.Clone(c.Query("email"))
		if token == "" {
			return p.lockProblem(c, safereset.ER351)
		}
		hash, ok := lockTokenHash(token, email)
		if !ok {
			return p.lockProblem(c, safereset.ER352)
		}
		if err := d.Store.CheckLockToken(c.UserContext(), safereset.NormalizeEmail(email), hash, d.Now()); err != nil {
			if code, ok := lockCode(err); ok {
				return p.lockProblem(c, code)
			}
			return internal(fmt.Errorf("not-me: check lock token: %w", err))
		}
		setCodes(c, nil)
		return p.send(c, fiber.StatusOK, func(b *bytes.Buffer) error {
			return r.NotMe(b, p.lang, page.LockForm{Product: d.ResetPage.Product, Assets: pageAssets, Action: notMePath,
				Token: token, Email: email, CSRF: macCSRF(d.ResetPage.CSRFKey, lockCSRFContext, token)})
		})
	}
}

// handleNotMeSubmit is POST /reset/not-me: the button. It locks the
// account (every outstanding reset token deleted, new ones refused until
// --lock-duration from now) and uses up the lock token.
func handleNotMeSubmit(d *Deps, r *page.Renderer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := newPageCtx(c, d, r)
		t := page.TextsFor(p.lang)
		values, ok, err := p.readForm(c, t)
		if !ok {
			return err
		}
		token, email, csrf := formValue(values, fieldToken), formValue(values, fieldEmail), formValue(values, fieldCSRF)
		if csrf == "" || !hmac.Equal([]byte(csrf), []byte(macCSRF(d.ResetPage.CSRFKey, lockCSRFContext, token))) {
			return p.message(c, fiber.StatusForbidden, t.TitleError, &t.FormExpired, false)
		}
		hash, ok := lockTokenHash(token, email)
		if !ok {
			return p.lockProblem(c, safereset.ER352)
		}
		now := d.Now()
		u, err := d.Store.LockAccount(c.UserContext(), safereset.NormalizeEmail(email), hash, now, now.Add(d.ResetPage.LockDuration),
			userChange(c, d, safereset.AuditAccountLocked, safereset.EventAccountLocked))
		if err != nil {
			if code, ok := lockCode(err); ok {
				return p.lockProblem(c, code)
			}
			return internal(fmt.Errorf("not-me: lock account: %w", err))
		}
		d.Metrics.AccountLock()
		d.Logger.Info("account locked", slog.String("request_id", requestIDOf(c)), slog.Uint64("user_id", u.ID))
		if d.Events != nil {
			d.NotifyOutbox() // account.locked is queued
		}
		setCodes(c, nil)
		until := strings.ReplaceAll(t.Locked, "{until}", u.LockedUntil.UTC().Format(lockTimeLayout))
		return p.message(c, fiber.StatusOK, t.TitleLocked, &page.Problem{Message: until, Solution: t.LockedNext}, true)
	}
}
