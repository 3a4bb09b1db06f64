package storetest

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/testclock"
)

// Store is what the suite needs from an engine: the interface, plus the
// outbox insert that tests and admin tooling use.
type Store interface {
	safereset.Store
	// EnqueueMail appends e to the outbox and returns its ID; CreatedAt
	// defaults to the store's clock and NextAttempt to CreatedAt.
	EnqueueMail(ctx context.Context, e safereset.OutboxEntry) (uint64, error)
}

// Open returns a fresh, empty store whose clock is now. It registers its
// own cleanup (close, and any engine checks) on t.
type Open func(t *testing.T, now func() time.Time) Store

// T0 is the start of every suite clock.
var T0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Clock is the shared settable test clock.
type Clock = testclock.Clock

// NewClock returns a clock at T0.
func NewClock() *Clock { return testclock.New(T0) }

// Run runs every conformance case against stores made by open.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Users_CRUD", testUsers_CRUD},
		{"Users_DeleteRemovesTokens", testUsers_DeleteRemovesTokens},
		{"Users_EmailKeyIsNormalizeEmail", testUsers_EmailKeyIsNormalizeEmail},
		{"APIKeys", testAPIKeys},
		{"Tokens_Check", testTokens_Check},
		{"Tokens_ResetPassword", testTokens_ResetPassword},
		{"Tokens_MaxOutstanding", testTokens_MaxOutstanding},
		{"Tokens_RequestReset", testTokens_RequestReset},
		{"Tokens_ConcurrentReset", testTokens_ConcurrentReset},
		{"Tokens_ConcurrentRequests", testTokens_ConcurrentRequests},
		{"OutboxClaims", testOutboxClaims},
		{"UserLocale", testUserLocale},
		{"Effects", testEffects},
		{"PasswordHistory", testPasswordHistory},
		{"Lock_TokenCheck", testLock_TokenCheck},
		{"Lock_RequestResetStoresLock", testLock_RequestResetStoresLock},
		{"Lock_Eviction", testLock_Eviction},
		{"Lock_LockAccount", testLock_LockAccount},
		{"Lock_ConcurrentLock", testLock_ConcurrentLock},
		{"Lock_RequestWhileLocked", testLock_RequestWhileLocked},
		{"Lock_Unlock", testLock_Unlock},
		{"Lock_DeleteUserRemovesLockTokens", testLock_DeleteUserRemovesLockTokens},
		{"Lock_Copy", testLock_Copy},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// fresh opens a store with a new clock at T0.
func fresh(t *testing.T, open Open) (Store, *Clock) {
	t.Helper()
	clk := NewClock()
	return open(t, clk.Now), clk
}

func hashOf(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// mustCreateUser stores a user with the given address.
func mustCreateUser(t testing.TB, db Store, email string) safereset.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), safereset.User{Email: email, PasswordHash: "$argon2id$old"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// MustEnqueue queues a mail with the given subject and first attempt.
func MustEnqueue(t testing.TB, db Store, subject string, created, next time.Time) uint64 {
	t.Helper()
	id, err := db.EnqueueMail(context.Background(), safereset.OutboxEntry{
		Message:     safereset.Message{Kind: safereset.MailConfirmation, To: "x@example.com", Subject: subject},
		CreatedAt:   created,
		NotAfter:    created.Add(time.Hour),
		NextAttempt: next,
	})
	if err != nil {
		t.Fatalf("EnqueueMail: %v", err)
	}
	return id
}

// Subjects lists the entries' subjects in order.
func Subjects(es []safereset.OutboxEntry) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.Message.Subject)
	}
	return s
}
