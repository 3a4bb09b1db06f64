package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/store"
)

// composeToken returns a compose func that renders a token mail carrying
// token to the stored address, expiring an hour after t0.
func composeToken(token string) func(safereset.User) (safereset.Message, time.Time, error) {
	return func(u safereset.User) (safereset.Message, time.Time, error) {
		return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "Reset", Text: "token " + token},
			t0.Add(time.Hour), nil
	}
}

// mustRequest stores token text tok for emailKey, expiring at exp, and
// fails unless the user exists.
func mustRequest(t testing.TB, db *store.DB, emailKey, tok string, exp time.Time) {
	t.Helper()
	found, err := db.RequestReset(context.Background(), emailKey,
		safereset.ResetToken{Hash: hashOf(tok), ExpiresAt: exp}, 3, composeToken(tok))
	if err != nil || !found {
		t.Fatalf("RequestReset = %v, %v; want true, nil", found, err)
	}
}

func TestTokens_RequestReset(t *testing.T) {
	ctx := context.Background()
	t.Run("KnownUserQueuesMail", func(t *testing.T) {
		db, _ := mustOpen(t)
		alice := mustCreateUser(t, db, "Alice@Example.com")
		before := store.TxID(t, db)
		var composedFor safereset.User
		found, err := db.RequestReset(ctx, "alice@example.com",
			safereset.ResetToken{Hash: hashOf("tok"), UserID: 999, ExpiresAt: t0.Add(time.Hour)}, 3,
			func(u safereset.User) (safereset.Message, time.Time, error) {
				composedFor = u
				return composeToken("tok")(u)
			})
		if err != nil || !found {
			t.Fatalf("RequestReset = %v, %v", found, err)
		}
		if got := store.TxID(t, db) - before; got != 1 {
			t.Errorf("RequestReset committed %d write transactions, want 1", got)
		}
		if composedFor.ID != alice.ID || composedFor.Email != "Alice@Example.com" {
			t.Errorf("compose got %+v, want the stored user", composedFor)
		}
		// UserID 999 from the caller is overwritten with the user's ID.
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("tok"), t0); err != nil {
			t.Errorf("CheckToken: %v", err)
		}
		due, err := db.DueMail(ctx, t0, 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("DueMail = %+v, %v", due, err)
		}
		e := due[0]
		if e.Message.To != "Alice@Example.com" || !strings.Contains(e.Message.Text, "tok") ||
			!e.CreatedAt.Equal(t0) || !e.NextAttempt.Equal(t0) || !e.NotAfter.Equal(t0.Add(time.Hour)) || e.Attempts != 0 {
			t.Errorf("queued entry = %+v", e)
		}
	})
	t.Run("UnknownUserOneWriteNoTrace", func(t *testing.T) {
		db, _ := mustOpen(t)
		mustCreateUser(t, db, "alice@example.com")
		before := store.TxID(t, db)
		// compose runs for an unknown address too, for the address as
		// given and with no user ID, so both cases do the same work; its
		// mail is never queued.
		var called []safereset.User
		found, err := db.RequestReset(ctx, "mallory@example.com",
			safereset.ResetToken{Hash: hashOf("tok"), ExpiresAt: t0.Add(time.Hour)}, 3,
			func(u safereset.User) (safereset.Message, time.Time, error) {
				called = append(called, u)
				return safereset.Message{Kind: safereset.MailToken, To: u.Email, Text: "tok"}, t0.Add(time.Hour), nil
			})
		if err != nil || found {
			t.Fatalf("RequestReset = %v, %v; want false, nil", found, err)
		}
		if got := store.TxID(t, db) - before; got != 1 {
			t.Errorf("RequestReset for unknown user committed %d write transactions, want 1", got)
		}
		if len(called) != 1 || called[0].ID != 0 || called[0].Email != "mallory@example.com" {
			t.Errorf("compose called with %+v, want once for the address as given", called)
		}
		if n, _, _ := db.OutboxStats(ctx); n != 0 {
			t.Errorf("outbox depth = %d, want 0", n)
		}
		if n, _ := db.CountUsers(ctx); n != 1 {
			t.Errorf("CountUsers = %d, want 1", n)
		}
	})
	t.Run("ComposeErrorStoresNothing", func(t *testing.T) {
		db, _ := mustOpen(t)
		mustCreateUser(t, db, "alice@example.com")
		exp := t0.Add(time.Hour)
		for _, tok := range []string{"k1", "k2", "k3"} {
			mustRequest(t, db, "alice@example.com", tok, exp)
		}
		boom := errors.New("template broken")
		before := store.TxID(t, db)
		_, err := db.RequestReset(ctx, "alice@example.com",
			safereset.ResetToken{Hash: hashOf("k4"), ExpiresAt: exp}, 3,
			func(safereset.User) (safereset.Message, time.Time, error) {
				return safereset.Message{}, time.Time{}, boom
			})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the compose error", err)
		}
		if got := store.TxID(t, db) - before; got != 0 {
			t.Errorf("failed RequestReset committed %d transactions", got)
		}
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("k4"), t0); !errors.Is(err, safereset.ErrTokenInvalid) {
			t.Errorf("new token stored despite compose error: %v", err)
		}
		for _, tok := range []string{"k1", "k2", "k3"} {
			if err := db.CheckToken(ctx, "alice@example.com", hashOf(tok), t0); err != nil {
				t.Errorf("%s evicted despite compose error: %v", tok, err)
			}
		}
		if n, _, _ := db.OutboxStats(ctx); n != 3 {
			t.Errorf("outbox depth = %d, want the 3 earlier mails", n)
		}
	})
	t.Run("DuplicateHashRefused", func(t *testing.T) {
		db, _ := mustOpen(t)
		mustCreateUser(t, db, "alice@example.com")
		mustCreateUser(t, db, "bob@example.com")
		mustRequest(t, db, "alice@example.com", "same", t0.Add(time.Hour))
		_, err := db.RequestReset(ctx, "bob@example.com",
			safereset.ResetToken{Hash: hashOf("same"), ExpiresAt: t0.Add(time.Hour)}, 3, composeToken("same"))
		if err == nil {
			t.Fatal("RequestReset with a stored hash succeeded")
		}
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("same"), t0); err != nil {
			t.Errorf("alice's token disturbed: %v", err)
		}
	})
	t.Run("NoExpiryRefused", func(t *testing.T) {
		db, _ := mustOpen(t)
		mustCreateUser(t, db, "alice@example.com")
		if _, err := db.RequestReset(ctx, "alice@example.com", safereset.ResetToken{Hash: hashOf("x")}, 3, composeToken("x")); err == nil {
			t.Error("RequestReset with a zero ExpiresAt succeeded")
		}
	})
	t.Run("UnknownUserLeavesStoredHashAlone", func(t *testing.T) {
		db, _ := mustOpen(t)
		mustCreateUser(t, db, "alice@example.com")
		mustRequest(t, db, "alice@example.com", "same", t0.Add(time.Hour))
		found, err := db.RequestReset(ctx, "mallory@example.com",
			safereset.ResetToken{Hash: hashOf("same"), ExpiresAt: t0.Add(time.Hour)}, 3, composeToken("same"))
		if err != nil || found {
			t.Fatalf("RequestReset = %v, %v; want false, nil", found, err)
		}
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("same"), t0); err != nil {
			t.Errorf("alice's token removed by a request for an unknown address: %v", err)
		}
		if n, _, _ := db.OutboxStats(ctx); n != 1 {
			t.Errorf("outbox depth = %d, want alice's 1", n)
		}
	})
}
