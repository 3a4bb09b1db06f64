package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/store"
)

// withLock is benchToken carrying a lock token, as the token mail does.
func withLock() safereset.ResetToken {
	tok := benchToken()
	lock := tok.Hash
	lock[31] ^= 0xff
	tok.Lock = safereset.LockToken{Hash: lock, ExpiresAt: time.Now().Add(7 * 24 * time.Hour)}
	return tok
}

// A locked account must cost what an unknown address (and so a known
// one) does, and keep nothing: the same WAL comparison as
// TestUnknownAddressDoesKnownWork, for requests that carry lock tokens.
func TestLockedAddressDoesKnownWork(t *testing.T) {
	ctx := context.Background()
	db, conn := openWithURL(t)
	for _, email := range []string{"alice@example.com", "locked@example.com"} {
		if _, err := db.CreateUser(ctx, safereset.User{Email: email, PasswordHash: "$argon2id$x"}); err != nil {
			t.Fatal(err)
		}
	}
	lt := safereset.LockToken{Hash: sha256.Sum256([]byte("lock")), ExpiresAt: time.Now().Add(time.Hour)}
	if err := db.AddLockToken(ctx, "locked@example.com", lt); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LockAccount(ctx, "locked@example.com", lt.Hash, time.Now(), time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	const n, outstanding = 60, 3
	request := func(email string) {
		for i := 0; i < n; i++ {
			found, err := db.RequestReset(ctx, email, withLock(), outstanding, compose, audited)
			if err != nil {
				t.Fatalf("RequestReset(%s): %v", email, err)
			}
			if want := email == "alice@example.com"; found != want {
				t.Fatalf("RequestReset(%s) found = %v, want %v", email, found, want)
			}
		}
	}
	request("alice@example.com")
	request("locked@example.com")
	known := walBytes(t, conn, func() { request("alice@example.com") })
	locked := walBytes(t, conn, func() { request("locked@example.com") })
	t.Logf("WAL per request with a lock token: known %d bytes, locked %d bytes", known/n, locked/n)
	if known <= 0 || locked <= 0 {
		t.Fatalf("no WAL measured: known %d, locked %d", known, locked)
	}
	if locked*2 < known || known*2 < locked {
		t.Errorf("locked account writes %d WAL bytes for %d requests, known %d: not the same work", locked, n, known)
	}

	count := func(q string, args ...any) int {
		var c int
		if err := conn.QueryRow(ctx, q, args...).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	byUser := func(table, email string) int {
		return count(fmt.Sprintf(`SELECT count(*) FROM %s t JOIN users u ON u.id = t.user_id WHERE u.email_key = $1`, table), email)
	}
	if got := byUser("reset_tokens", "locked@example.com"); got != 0 {
		t.Errorf("locked account has %d reset tokens", got)
	}
	if got := byUser("lock_tokens", "locked@example.com"); got != 0 {
		t.Errorf("locked account has %d lock tokens", got)
	}
	if got := byUser("lock_tokens", "alice@example.com"); got != safereset.MaxLockTokens {
		t.Errorf("known account has %d lock tokens, want %d", got, safereset.MaxLockTokens)
	}
	if got := count(`SELECT count(*) FROM request_decoy_lock_tokens`); got != safereset.MaxLockTokens {
		t.Errorf("locked account left %d decoy lock tokens, want %d (evicted like a known one)", got, safereset.MaxLockTokens)
	}
	if got := count(`SELECT count(*) FROM audit`); got != 2*n {
		t.Errorf("audit has %d lines, want %d (only the known account's)", got, 2*n)
	}
	if got := count(`SELECT count(*) FROM outbox`); got != 2*n {
		t.Errorf("outbox has %d mails, want %d (only the known account's)", got, 2*n)
	}
}

// TestCopyLocks_BothDirections copies a bbolt file holding a lock and lock
// tokens into PostgreSQL and back: LockedUntil and the live lock tokens
// arrive each way, and an expired lock token is left behind.
func TestCopyLocks_BothDirections(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	src, err := store.Open(filepath.Join(t.TempDir(), "src.db"), store.Options{Now: clock, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, email := range []string{"alice@example.com", "bob@example.com"} {
		if _, err := src.CreateUser(ctx, safereset.User{Email: email, PasswordHash: "$argon2id$x"}); err != nil {
			t.Fatal(err)
		}
	}
	h := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	add := func(db safereset.Store, email, text string, ttl time.Duration) {
		t.Helper()
		if err := db.AddLockToken(ctx, email, safereset.LockToken{Hash: h(text), CreatedAt: t0, ExpiresAt: t0.Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	add(src, "alice@example.com", "lock", time.Hour)
	until := t0.Add(24 * time.Hour)
	if _, err := src.LockAccount(ctx, "alice@example.com", h("lock"), t0, until); err != nil {
		t.Fatal(err)
	}
	add(src, "alice@example.com", "alice-live", 48*time.Hour)
	add(src, "bob@example.com", "bob-live", 48*time.Hour)
	add(src, "bob@example.com", "bob-dies", 2*time.Hour)
	now = t0.Add(3 * time.Hour)

	check := func(name string, db safereset.Store) {
		t.Helper()
		if u, err := db.UserByEmail(ctx, "alice@example.com"); err != nil || !u.LockedUntil.Equal(until) {
			t.Errorf("%s: alice LockedUntil %v, %v; want %v", name, u.LockedUntil, err, until)
		}
		if u, err := db.UserByEmail(ctx, "bob@example.com"); err != nil || !u.LockedUntil.IsZero() {
			t.Errorf("%s: bob LockedUntil %v, %v; want zero", name, u.LockedUntil, err)
		}
		for _, c := range []struct {
			email, text string
			want        error
		}{
			{"alice@example.com", "alice-live", nil},
			{"bob@example.com", "bob-live", nil},
			{"bob@example.com", "bob-dies", safereset.ErrTokenInvalid},
			{"alice@example.com", "lock", safereset.ErrTokenInvalid},
		} {
			// At t0 bob-dies was live: only its absence makes it invalid.
			err := db.CheckLockToken(ctx, c.email, h(c.text), t0)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("%s: CheckLockToken(%s) = %v, want %v", name, c.text, err, c.want)
			}
		}
	}

	d, err := src.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pg := mustOpen(t, clock)
	if err := pg.Import(ctx, d); err != nil {
		t.Fatalf("Import into PostgreSQL: %v", err)
	}
	check("postgres", pg)

	back, err := pg.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.LockTokens) != 2 {
		t.Errorf("PostgreSQL exported %d lock tokens, want 2", len(back.LockTokens))
	}
	dst, err := store.Open(filepath.Join(t.TempDir(), "dst.db"), store.Options{Now: clock, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.Import(ctx, back); err != nil {
		t.Fatalf("Import into bbolt: %v", err)
	}
	check("bbolt", dst)
	if err := dst.Check(ctx); err != nil {
		t.Errorf("bbolt Check after the copy: %v", err)
	}
}
