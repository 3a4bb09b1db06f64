package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

// testPasswordHistory: ResetPassword pushes the replaced hash and trims
// the previous hashes to N-1 for KeepPasswordHistory(N), in the same
// write as the new hash, per user; a refused reset leaves the history
// alone.
func testPasswordHistory(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	keeper, ok := db.(safereset.PasswordHistoryKeeper)
	if !ok {
		t.Fatalf("%T does not implement safereset.PasswordHistoryKeeper", db)
	}
	mustCreateUser(t, db, "alice@example.com")
	mustCreateUser(t, db, "bob@example.com")
	exp := T0.Add(time.Hour)
	n := 0
	reset := func(email, newHash string, want []string) {
		t.Helper()
		n++
		tok := email + string(rune('a'+n))
		MustRequest(t, db, email, tok, exp)
		u, err := db.ResetPassword(ctx, email, hashOf(tok), newHash, T0)
		if err != nil {
			t.Fatalf("ResetPassword(%s): %v", newHash, err)
		}
		stored, err := db.UserByEmail(ctx, email)
		if err != nil {
			t.Fatalf("UserByEmail: %v", err)
		}
		for _, got := range []safereset.User{u, stored} {
			if got.PasswordHash != newHash || !slices.Equal(got.PasswordHistory, want) {
				t.Errorf("after reset to %s: hash %q, history %q; want %q, %q", newHash, got.PasswordHash, got.PasswordHistory, newHash, want)
			}
		}
	}

	// Off by default: nothing is kept.
	reset("alice@example.com", "$argon2id$h0", nil)

	keeper.KeepPasswordHistory(3)
	reset("alice@example.com", "$argon2id$h1", []string{"$argon2id$h0"})
	reset("alice@example.com", "$argon2id$h2", []string{"$argon2id$h1", "$argon2id$h0"})
	reset("alice@example.com", "$argon2id$h3", []string{"$argon2id$h2", "$argon2id$h1"})
	reset("alice@example.com", "$argon2id$h4", []string{"$argon2id$h3", "$argon2id$h2"})

	// Another user's history is their own.
	reset("bob@example.com", "$argon2id$b1", []string{"$argon2id$old"})

	// A refused reset changes neither the hash nor the history.
	MustRequest(t, db, "alice@example.com", "late", exp)
	if _, err := db.ResetPassword(ctx, "alice@example.com", hashOf("late"), "$argon2id$late", exp); !errors.Is(err, safereset.ErrTokenExpired) {
		t.Fatalf("expired reset: err = %v, want ErrTokenExpired", err)
	}
	if _, err := db.ResetPassword(ctx, "alice@example.com", hashOf("nope"), "$argon2id$nope", T0); !errors.Is(err, safereset.ErrTokenInvalid) {
		t.Fatalf("wrong-token reset: err = %v, want ErrTokenInvalid", err)
	}
	if u, _ := db.UserByEmail(ctx, "alice@example.com"); u.PasswordHash != "$argon2id$h4" || !slices.Equal(u.PasswordHistory, []string{"$argon2id$h3", "$argon2id$h2"}) {
		t.Errorf("refused resets changed the user: hash %q, history %q", u.PasswordHash, u.PasswordHistory)
	}

	// Lowering N trims on the next reset; N=1 keeps only the current hash.
	keeper.KeepPasswordHistory(2)
	reset("alice@example.com", "$argon2id$h5", []string{"$argon2id$h4"})
	keeper.KeepPasswordHistory(1)
	reset("alice@example.com", "$argon2id$h6", nil)

	// Out-of-range N is clamped, not trusted.
	keeper.KeepPasswordHistory(-5)
	reset("bob@example.com", "$argon2id$b2", nil)
	keeper.KeepPasswordHistory(safereset.MaxPasswordHistory + 100)
	var want []string
	for i := range safereset.MaxPasswordHistory + 3 {
		h := "$argon2id$c" + string(rune('A'+i))
		prev := "$argon2id$b2"
		if i > 0 {
			prev = "$argon2id$c" + string(rune('A'+i-1))
		}
		want = append([]string{prev}, want...)
		want = want[:min(len(want), safereset.MaxPasswordHistory-1)]
		reset("bob@example.com", h, want)
	}
}
