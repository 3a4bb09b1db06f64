package safereset

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// User is an account whose password safereset can reset.
type User struct {
	ID uint64 `json:"id"`
	// Email is the address as it was stored; mail goes here, never to the
	// string a request carried.
	Email string `json:"emailAddress"`
	// EmailKey is NormalizeEmail(Email), the unique lookup key.
	EmailKey string `json:"emailKey"`
	// PasswordHash is a PHC string (argon2id, or bcrypt for imported users).
	PasswordHash string `json:"passwordHash"`
	// Locale is the language of the user's mails ("en", "nl", "de", "fr",
	// "es"); empty uses the service's default.
	Locale            string    `json:"locale,omitempty"`
	CreatedAt         time.Time `json:"createdAt"`
	PasswordChangedAt time.Time `json:"passwordChangedAt"`
	// PasswordHistory holds the PHC strings of the user's previous
	// passwords, newest first, never a password. ResetPassword keeps at
	// most N-1 of them for --password-history N (the current hash is the
	// Nth).
	PasswordHistory []string `json:"passwordHistory,omitempty"`
	// LockedUntil is set by LockAccount ("this wasn't me", SPEC §11).
	// Before it, RequestReset issues no token and queues no mail; zero or
	// past means not locked.
	LockedUntil time.Time `json:"lockedUntil,omitzero"`
}

// Locked reports whether the account refuses new reset tokens at now.
func (u User) Locked(now time.Time) bool { return now.Before(u.LockedUntil) }

// MaxPasswordHistory bounds --password-history: PCI DSS asks for 4, and
// each kept hash costs one hash verify per reset carrying a live token.
const MaxPasswordHistory = 24

// PasswordHistoryKeeper is a Store that keeps previous password hashes
// with the user. KeepPasswordHistory(n) makes every later ResetPassword
// push the replaced hash and trim the list to n-1 in the same
// transaction; 0 (the default) keeps none.
type PasswordHistoryKeeper interface {
	KeepPasswordHistory(n int)
}

// ResetToken is an outstanding password-reset token. Only the SHA-256 of the
// token's text is stored; the token itself exists only in the mail.
type ResetToken struct {
	Hash      [32]byte  `json:"hash"`
	UserID    uint64    `json:"userId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	// Lock, when its Hash is not zero, is the "this wasn't me" token whose
	// link the same mail carries. RequestReset stores it with the reset
	// token, in the same transaction, with UserID set from the user.
	Lock LockToken `json:"-"`
}

// LockToken is a single-use "this wasn't me" token (SPEC §11), carried by
// the token mail and the confirmation mail. Only the SHA-256 of the
// token's text is stored; the token itself exists only in the mail. It
// outlives the reset token it came with (the confirmation mail's link is
// used after the reset), until ExpiresAt.
type LockToken struct {
	Hash      [32]byte  `json:"hash"`
	UserID    uint64    `json:"userId"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// MaxLockTokens bounds the lock tokens kept per user: storing one more
// evicts the oldest by CreatedAt, so a flood of requests cannot grow a
// user's record without limit.
const MaxLockTokens = 8

// APIKey is a named credential a client application sends in X-Api-Key.
// Only the SHA-256 of the key is stored.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hash      [32]byte  `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
	// RevokedAt is zero while the key is active.
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// MailKind tells the two mails apart in the outbox, logs and metrics.
type MailKind string

// The kinds of mail safereset sends.
const (
	MailToken        MailKind = "token"
	MailConfirmation MailKind = "confirmation"
)

// Message is one rendered email.
type Message struct {
	Kind    MailKind `json:"kind"`
	To      string   `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html,omitempty"`
}

// OutboxEntry is a message waiting in the durable outbox.
type OutboxEntry struct {
	ID          uint64    `json:"id"`
	Message     Message   `json:"message"`
	CreatedAt   time.Time `json:"createdAt"`
	NotAfter    time.Time `json:"notAfter"` // drop undelivered after this (the token's expiry)
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"nextAttempt"`
	LastError   string    `json:"lastError,omitempty"`
	// Unreadable is set by a store whose outbox key cannot open the
	// entry's message (a database restored without its key, or a record
	// changed on disk): only the scheduling fields and Message.Kind are
	// filled in. The worker drops such an entry.
	Unreadable bool `json:"-"`
	// Claim identifies the ClaimMail call that leased the entry (0 when
	// unclaimed). DeleteMail and RescheduleMail need it, so a worker whose
	// lease ran out and was taken over cannot touch the new owner's work.
	Claim uint64 `json:"claim,omitempty"`
	// Webhook is set for an event delivery instead of a mail; Message is
	// then zero.
	Webhook *WebhookDelivery `json:"webhook,omitempty"`
}

// Store errors, checked with errors.Is.
var (
	// ErrUserExists is returned when creating a user whose email key is taken.
	ErrUserExists = errors.New("user already exists")
	// ErrUserNotFound is returned when no user has the email key.
	ErrUserNotFound = errors.New("user not found")
	// ErrTokenInvalid is returned for a token that is unknown, used, revoked
	// or not issued for the given user.
	ErrTokenInvalid = errors.New("reset token invalid")
	// ErrTokenExpired is returned for a token of the right user past its expiry.
	ErrTokenExpired = errors.New("reset token expired")
	// ErrAPIKeyNotFound is returned when no API key matches.
	ErrAPIKeyNotFound = errors.New("api key not found")
	// ErrAPIKeyExists is returned when creating an API key whose ID or hash
	// is already stored.
	ErrAPIKeyExists = errors.New("api key already exists")
	// ErrMailNotFound is returned when an outbox entry no longer exists.
	ErrMailNotFound = errors.New("outbox entry not found")
	// ErrMailClaimLost is returned by DeleteMail and RescheduleMail when the
	// entry is now held by another claim (the caller's lease ran out and
	// another worker claimed it).
	ErrMailClaimLost = errors.New("outbox entry claimed by another worker")
)

// IsTokenRefusal reports whether err is a token's plain refusal,
// ErrTokenInvalid or ErrTokenExpired. Stores return these as they are
// from CheckToken: every guess at a token gets one, and wrapping it would
// allocate on the path a brute force takes.
func IsTokenRefusal(err error) bool {
	return errors.Is(err, ErrTokenInvalid) || errors.Is(err, ErrTokenExpired)
}

// Store keeps users, reset tokens, API keys, the outbox and the audit
// trail. Every method that changes something does so in one atomic
// transaction; the effects (audit entries, outbox entries) a caller passes
// are written in that same transaction, and only when the change succeeds.
type Store interface {
	CreateUser(ctx context.Context, u User, effects ...EffectsFunc) (User, error)
	UserByEmail(ctx context.Context, emailKey string) (User, error)
	// SetPasswordHash replaces a user's hash (admin import/verify upgrades).
	SetPasswordHash(ctx context.Context, emailKey, phc string, at time.Time) error
	DeleteUser(ctx context.Context, emailKey string, effects ...EffectsFunc) error
	CountUsers(ctx context.Context) (int, error)

	// RequestReset always commits exactly one write transaction, whether or
	// not a user has emailKey, so both cases cost the same. For an existing
	// user it stores tok (with UserID set from the user), evicts the oldest
	// outstanding tokens beyond maxOutstanding, and queues the message that
	// compose renders for the stored user, all in that one transaction.
	// found reports whether the user existed. effects are written only for
	// an existing user, so an unknown address leaves no trace (an engine
	// may still render them, discarded, to make both cases cost the same).
	RequestReset(ctx context.Context, emailKey string, tok ResetToken, maxOutstanding int, compose func(User) (Message, time.Time, error), effects ...EffectsFunc) (found bool, err error)
	// CheckToken reports whether the token is valid for emailKey at now:
	// nil, ErrTokenInvalid or ErrTokenExpired. It changes nothing.
	CheckToken(ctx context.Context, emailKey string, tokenHash [32]byte, now time.Time) error
	// ResetPassword re-checks the token and, in one transaction, stores the
	// new hash, bumps PasswordChangedAt to now and deletes every outstanding
	// token of the user. It returns the updated user.
	ResetPassword(ctx context.Context, emailKey string, tokenHash [32]byte, newHash string, now time.Time, effects ...EffectsFunc) (User, error)

	AccountLocker

	CreateAPIKey(ctx context.Context, k APIKey, effects ...Effects) error
	APIKeyByHash(ctx context.Context, hash [32]byte) (APIKey, error)
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id string, at time.Time, effects ...Effects) error

	// Record writes effects of a change made outside the store (a JWT
	// issued, a filter reloaded, an admin token refused) in one transaction.
	Record(ctx context.Context, e Effects) error
	// AuditLog returns audit entries matching q, in ID order.
	AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// PruneAudit deletes audit entries older than before and returns how
	// many it deleted.
	PruneAudit(ctx context.Context, before time.Time) (int, error)

	// ClaimMail leases up to limit outbox entries whose NextAttempt is not
	// after now, oldest first, in one transaction: each returned entry
	// carries a new Claim, and its NextAttempt becomes now+lease so no
	// other caller (another replica) gets it until the lease runs out.
	ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxEntry, error)
	// NextMailAt returns the earliest NextAttempt in the outbox (zero if empty).
	NextMailAt(ctx context.Context) (time.Time, error)
	// DeleteMail removes an entry held by claim. It returns ErrMailNotFound
	// when the entry is gone and ErrMailClaimLost when another claim holds it.
	DeleteMail(ctx context.Context, id, claim uint64) error
	// RescheduleMail records a failed attempt of an entry held by claim and
	// releases the claim; errors as DeleteMail.
	RescheduleMail(ctx context.Context, id, claim uint64, next time.Time, attempts int, lastErr string) error
	OutboxStats(ctx context.Context) (depth int, oldest time.Time, err error)

	// Backup writes a consistent copy of the database to w.
	Backup(ctx context.Context, w io.Writer) (int64, error)
	Close() error
}

// AccountLocker is the store's part of "this wasn't me" (SPEC §11).
//
// RequestReset treats a user locked at the token's CreatedAt
// (User.Locked) exactly like an unknown address: it does the decoy work,
// stores no token, queues no mail, writes no effects and reports found
// false, so the answer and its cost cannot tell a locked account apart.
type AccountLocker interface {
	// AddLockToken stores lt for the user with emailKey (the confirmation
	// mail's link), with UserID set from the user, evicting the user's
	// expired lock tokens and then the oldest beyond MaxLockTokens. It
	// returns ErrUserNotFound.
	AddLockToken(ctx context.Context, emailKey string, lt LockToken) error
	// CheckLockToken reports whether the lock token is valid for emailKey
	// at now: nil, ErrTokenInvalid or ErrTokenExpired. It changes nothing.
	CheckLockToken(ctx context.Context, emailKey string, hash [32]byte, now time.Time) error
	// LockAccount re-checks the lock token and, in one transaction,
	// deletes it (single use), deletes every outstanding reset token of
	// the user, sets LockedUntil to until (a later lock already in place
	// is kept) and writes effects for the updated user, which it returns.
	// Errors: ErrTokenInvalid, ErrTokenExpired; nothing changes then.
	LockAccount(ctx context.Context, emailKey string, hash [32]byte, now, until time.Time, effects ...EffectsFunc) (User, error)
	// UnlockAccount clears LockedUntil in one transaction with effects and
	// returns the updated user; unlocking an account that is not locked
	// succeeds and changes nothing else. effects are written only when the
	// account was locked at the store's clock, so an unlock that lifts
	// nothing records nothing. It returns ErrUserNotFound.
	UnlockAccount(ctx context.Context, emailKey string, effects ...EffectsFunc) (User, error)
}

// Verdict is the outcome of a breach and strength check.
type Verdict struct {
	Breached bool // found in the breach filter
	Weak     bool // zxcvbn score too low, or contains the email's local part
}

// OK reports whether the password may be used.
func (v Verdict) OK() bool { return !v.Breached && !v.Weak }

// BreachChecker decides whether a new password is breached or too weak.
// userInputs are strings the password must not be built from (the email
// address and its local part).
type BreachChecker interface {
	Check(password string, userInputs []string) (Verdict, error)
}

// QuickChecker is a BreachChecker that can also answer from its cheap rules
// alone (the breach filter and the local part), without the costly
// strength estimate. The server uses it for requests that cannot succeed
// (SPEC §2.4), so refusing a guess costs about what a validation error
// costs.
type QuickChecker interface {
	CheckQuick(password string, userInputs []string) (Verdict, error)
}

// FilterInfo describes the loaded breach filter for /readyz and metrics.
type FilterInfo struct {
	// Version is the file's format version: 1 (bloom/v3 layout) or 2
	// (blocked, one cache line a lookup).
	Version   uint32    `json:"version"`
	Elements  uint64    `json:"elements"`
	Bits      uint64    `json:"bits"`
	K         uint64    `json:"k"`
	TargetFPR float64   `json:"targetFpr"`
	LoadedAt  time.Time `json:"loadedAt"`
	BuiltAt   time.Time `json:"builtAt"`
	Source    string    `json:"source"`
	Path      string    `json:"path"`
	// Guard is how an in-place change of the file is caught: "lease" (a
	// kernel read lease announces it; lookups make no system call),
	// "stat" (one fstat after each lookup) or "memory" (an in-memory copy
	// no file change reaches).
	Guard string `json:"guard"`
}

// ErrMailPermanent marks a send failure that retrying will not fix (an SMTP
// 5xx answer, a bad address). Senders wrap it; the outbox worker drops such
// messages instead of retrying them.
var ErrMailPermanent = errors.New("permanent mail failure")

// Sender delivers one message now. It returns an error wrapping
// ErrMailPermanent when retrying cannot help.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Composer renders the two mails safereset sends.
type Composer interface {
	TokenMail(to, token string, expiresAt time.Time) (Message, error)
	ConfirmationMail(to string, changedAt time.Time) (Message, error)
	// TokenMailWithLock and ConfirmationMailWithLock are the same mails
	// carrying the "this wasn't me" link for lockToken as well (SPEC §11).
	TokenMailWithLock(to, token, lockToken string, expiresAt time.Time) (Message, error)
	ConfirmationMailWithLock(to, lockToken string, changedAt time.Time) (Message, error)
}

// Client authentication errors returned by a TokenVerifier.
var (
	// ErrAuthInvalid is returned for a bearer token that is not valid (ER800).
	ErrAuthInvalid = errors.New("authorization token invalid")
	// ErrAuthExpired is returned for a valid token past its expiry (ER801).
	ErrAuthExpired = errors.New("authorization token expired")
)

// TokenVerifier checks a client's bearer token and returns its subject.
type TokenVerifier interface {
	Verify(token string) (subject string, err error)
}

// Route names a route of either listener with a fixed value, the one
// logs, metric labels and rate limits use; never a path from a request.
type Route string

// The routes. RouteRequest and RouteReset are the rate-limited, counted
// ones: their answers are the contract alerts watch. The pages (Page)
// are counted too, without clients.
const (
	RouteRequest Route = "request" // POST /api/v1/user/reset-password
	RouteReset   Route = "reset"   // PATCH /api/v1/user/reset-password
	RouteDoc     Route = "doc"     // GET /api/v1/doc.json
	RoutePage    Route = "page"    // the reset page, GET and POST /reset
	RouteNotMe   Route = "not-me"  // the "this wasn't me" page, GET and POST /reset/not-me
	RouteAsset   Route = "asset"   // the pages' stylesheet and script
	RouteHealthz Route = "healthz"
	RouteReadyz  Route = "readyz"
	RouteMetrics Route = "metrics"
	RouteAdmin   Route = "admin" // everything under /admin/v1
	RouteOther   Route = "other" // no route matched
	RouteCheck   Route = "check" // POST /api/v1/password/check
	RouteRange   Route = "range" // GET /range/{prefix} on the range listener
)

// Counted reports whether r is one of the reset routes whose answers are
// counted per code and client.
func (r Route) Counted() bool { return r == RouteRequest || r == RouteReset }

// Page reports whether r is one of the HTML pages whose answers are
// counted per code (no client: the pages need no credentials).
func (r Route) Page() bool { return r == RoutePage || r == RouteNotMe }

// LimitRoute is the name Route had when only rate limits used it.
//
// Deprecated: use Route.
type LimitRoute = Route

// LimitKind is what a limit is keyed by.
type LimitKind string

// The kinds of rate-limit key.
const (
	LimitIP    LimitKind = "ip"
	LimitEmail LimitKind = "email"
)

// LimitResult is the state of one bucket after counting a request.
type LimitResult struct {
	Limit     int64
	Remaining int64
	Reset     time.Time
	Reached   bool
}

// Limiter counts requests per route and key. For LimitEmail the key is the
// raw address from the request; the limiter folds and hashes it itself so no
// plaintext address is kept. A limiter with the limit disabled returns a
// zero LimitResult (Limit 0) and never Reached.
type Limiter interface {
	Take(ctx context.Context, route LimitRoute, kind LimitKind, key string) (LimitResult, error)
}

// Dump is everything a store holds, for `safereset store copy` between
// engines. Outbox entries carry their messages in clear: a dump lives only
// in memory, and each engine seals what it stores.
type Dump struct {
	Users   []User
	Tokens  []ResetToken
	APIKeys []APIKey
	Outbox  []OutboxEntry
	// LockTokens are the live "this wasn't me" tokens (hashes only).
	LockTokens []LockToken
	// Audit is the audit trail, oldest first, with its IDs.
	Audit []AuditEntry
}

// ClampPasswordHistory bounds n to 0..MaxPasswordHistory.
func ClampPasswordHistory(n int) int {
	return min(max(n, 0), MaxPasswordHistory)
}

// PushPasswordHistory returns the previous hashes to keep when old is
// replaced under --password-history n: old first, then prev, at most n-1
// in all (the new hash is the nth). It never shares prev's backing array.
func PushPasswordHistory(prev []string, old string, n int) []string {
	keep := ClampPasswordHistory(n) - 1
	if keep <= 0 {
		return nil
	}
	out := make([]string, 0, keep)
	if old != "" {
		out = append(out, old)
	}
	for _, h := range prev {
		if len(out) == keep {
			break
		}
		out = append(out, h)
	}
	return out
}

// ClientNameRule describes the names ValidClientName accepts.
const ClientNameRule = "must be 1 to 64 characters of letters, digits and -_.@:"

// ValidClientName is the rule for API key names and for JWT subjects
// minted by the CLI, so one client can carry the same name in both.
func ValidClientName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@:", r)) {
			return false
		}
	}
	return true
}
