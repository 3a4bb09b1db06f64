package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/store/storetest"
)

// TestTokens_RequestReset checks what only bbolt can show: how many write
// transactions RequestReset commits. What it stores and queues is the
// storetest case Tokens_RequestReset, run against bbolt by TestConformance.
func TestTokens_RequestReset(t *testing.T) {
	ctx := context.Background()
	// An unknown address does the same work as a known one (SPEC §2.3):
	// one write transaction either way.
	for _, tc := range []struct {
		name, email string
		found       bool
	}{
		{"KnownUserOneWrite", "alice@example.com", true},
		{"UnknownUserOneWrite", "mallory@example.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := mustOpen(t)
			mustCreateUser(t, db, "alice@example.com")
			before := store.TxID(t, db)
			found, err := db.RequestReset(ctx, tc.email,
				safereset.ResetToken{Hash: hashOf("tok"), ExpiresAt: t0.Add(time.Hour)}, 3, storetest.ComposeToken("tok"))
			if err != nil || found != tc.found {
				t.Fatalf("RequestReset = %v, %v; want %v, nil", found, err, tc.found)
			}
			if got := store.TxID(t, db) - before; got != 1 {
				t.Errorf("RequestReset committed %d write transactions, want 1", got)
			}
		})
	}
	t.Run("ComposeErrorCommitsNothing", func(t *testing.T) {
		db, _ := mustOpen(t)
		mustCreateUser(t, db, "alice@example.com")
		for _, tok := range []string{"k1", "k2", "k3"} {
			storetest.MustRequest(t, db, "alice@example.com", tok, t0.Add(time.Hour))
		}
		boom := errors.New("template broken")
		before := store.TxID(t, db)
		_, err := db.RequestReset(ctx, "alice@example.com",
			safereset.ResetToken{Hash: hashOf("k4"), ExpiresAt: t0.Add(time.Hour)}, 3,
			func(safereset.User) (safereset.Message, time.Time, error) {
				return safereset.Message{}, time.Time{}, boom
			})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the compose error", err)
		}
		if got := store.TxID(t, db) - before; got != 0 {
			t.Errorf("failed RequestReset committed %d transactions", got)
		}
	})
}
