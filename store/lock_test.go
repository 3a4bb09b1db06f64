package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/store"
)

// TestLock_OnlyHashAtRest stores lock tokens both ways (with a reset
// request and on their own), uses one, and reads the raw file and a
// backup: each token's SHA-256 is there, its text (raw or hex) never is.
// The store is only ever given the hash, so this holds by construction;
// the test keeps it that way.
func TestLock_OnlyHashAtRest(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New(t0)
	path := filepath.Join(t.TempDir(), "safereset.db")
	db := mustOpenPath(t, path, store.Options{Now: clk.Now, OutboxKey: testKey(t)})
	mustCreateUser(t, db, "alice@example.com")

	texts := []string{"lock-text-via-request-6b1f0c", "lock-text-added-alone-93ad2e", "lock-text-used-to-lock-5c77e1"}
	hashes := make([][32]byte, len(texts))
	for i, s := range texts {
		hashes[i] = sha256.Sum256([]byte(s))
	}
	exp := t0.Add(7 * 24 * time.Hour)
	tok := safereset.ResetToken{Hash: sha256.Sum256([]byte("reset-text")), ExpiresAt: t0.Add(time.Hour),
		Lock: safereset.LockToken{Hash: hashes[0], ExpiresAt: exp}}
	if found, err := db.RequestReset(ctx, "alice@example.com", tok, 3, func(u safereset.User) (safereset.Message, time.Time, error) {
		return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "Reset", Text: "lock " + texts[0]}, t0.Add(time.Hour), nil
	}); err != nil || !found {
		t.Fatalf("RequestReset = %v, %v", found, err)
	}
	for _, h := range hashes[1:] {
		if err := db.AddLockToken(ctx, "alice@example.com", safereset.LockToken{Hash: h, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.LockAccount(ctx, "alice@example.com", hashes[2], t0, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if _, err := db.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"file": raw, "backup": backup.Bytes()} {
		for i, s := range texts {
			if bytes.Contains(b, []byte(s)) || bytes.Contains(b, []byte(hex.EncodeToString([]byte(s)))) {
				t.Errorf("%s holds lock token text %d", name, i)
			}
		}
		// The live ones are stored by hash; the used one may linger on a
		// free page, so only the live ones must be found.
		for i, h := range hashes[:2] {
			if !bytes.Contains(b, h[:]) {
				t.Errorf("%s lacks the hash of live lock token %d", name, i)
			}
		}
	}
}

// TestLock_LockedRequestIsTheDecoy: a request for a locked account takes
// the unknown address's path, step for step: one write transaction, the
// mail composed for the address as given with no user ID (never for the
// stored user), found false.
func TestLock_LockedRequestIsTheDecoy(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	mustCreateUser(t, db, "Locked@Example.com")
	lock := sha256.Sum256([]byte("lock"))
	if err := db.AddLockToken(ctx, "locked@example.com", safereset.LockToken{Hash: lock, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LockAccount(ctx, "locked@example.com", lock, t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"locked@example.com", "nobody@example.com"} {
		before := store.TxID(t, db)
		var composedFor []safereset.User
		tok := safereset.ResetToken{Hash: sha256.Sum256([]byte("tok " + email)), ExpiresAt: t0.Add(time.Hour),
			Lock: safereset.LockToken{Hash: sha256.Sum256([]byte("lock " + email)), ExpiresAt: t0.Add(48 * time.Hour)}}
		found, err := db.RequestReset(ctx, email, tok, 3, func(u safereset.User) (safereset.Message, time.Time, error) {
			composedFor = append(composedFor, u)
			return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "Reset", Text: "x"}, t0.Add(time.Hour), nil
		})
		if err != nil || found {
			t.Errorf("RequestReset(%s) = %v, %v; want false, nil", email, found, err)
		}
		if got := store.TxID(t, db) - before; got != 1 {
			t.Errorf("RequestReset(%s) committed %d write transactions, want 1", email, got)
		}
		want := safereset.User{Email: email, EmailKey: email}
		if len(composedFor) != 1 || composedFor[0].ID != want.ID || composedFor[0].Email != want.Email || composedFor[0].EmailKey != want.EmailKey {
			t.Errorf("RequestReset(%s) composed for %+v, want once for %+v", email, composedFor, want)
		}
	}
	if depth, _, err := db.OutboxStats(ctx); err != nil || depth != 0 {
		t.Errorf("OutboxStats depth %d, %v; want nothing queued", depth, err)
	}
}

// TestLock_CheckFindsBadLockTokens: Check reports a lock token of a user
// that does not exist (left by an older build's DeleteUser) and a record
// of the wrong size, naming no hash.
func TestLock_CheckFindsBadLockTokens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "safereset.db")
	db, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustCreateUser(t, db, "alice@example.com")
	if err := db.AddLockToken(ctx, "alice@example.com", safereset.LockToken{Hash: sha256.Sum256([]byte("ok")), ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatalf("Check of a sound file: %v", err)
	}
	orphan := sha256.Sum256([]byte("orphan"))
	if err := store.PutRawLockToken(ctx, db, 999, orphan, make([]byte, 24)); err != nil {
		t.Fatal(err)
	}
	err = db.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "lock token of missing user 999") {
		t.Errorf("Check with an orphaned lock token = %v", err)
	}
	if err := store.PutRawLockToken(ctx, db, 1, sha256.Sum256([]byte("short")), []byte{1}); err != nil {
		t.Fatal(err)
	}
	err = db.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "lock_tokens: bad record") {
		t.Errorf("Check with a short lock token record = %v", err)
	}
	if err != nil && strings.Contains(err.Error(), hex.EncodeToString(orphan[:])) {
		t.Errorf("Check names a hash: %v", err)
	}
	// A corrupt record is an error for the user's lookups, never a pass.
	if err := db.CheckLockToken(ctx, "alice@example.com", sha256.Sum256([]byte("short")), t0); err == nil {
		t.Error("CheckLockToken accepted a corrupt record")
	}
}
