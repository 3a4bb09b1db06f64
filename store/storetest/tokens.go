package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

// ComposeToken returns a compose func that renders a token mail carrying
// token to the stored address, expiring an hour after T0.
func ComposeToken(token string) func(safereset.User) (safereset.Message, time.Time, error) {
	return func(u safereset.User) (safereset.Message, time.Time, error) {
		return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "Reset", Text: "token " + token},
			T0.Add(time.Hour), nil
	}
}

// MustRequest stores token text tok for emailKey, expiring at exp, and
// fails unless the user exists.
func MustRequest(t testing.TB, db Store, emailKey, tok string, exp time.Time) {
	t.Helper()
	found, err := db.RequestReset(context.Background(), emailKey,
		safereset.ResetToken{Hash: hashOf(tok), ExpiresAt: exp}, 3, ComposeToken(tok))
	if err != nil || !found {
		t.Fatalf("RequestReset = %v, %v; want true, nil", found, err)
	}
}

func testTokens_Check(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	mustCreateUser(t, db, "bob@example.com")
	exp := T0.Add(time.Hour)
	MustRequest(t, db, "alice@example.com", "alice-token", exp)
	MustRequest(t, db, "bob@example.com", "bob-token", exp)

	tests := []struct {
		name  string
		email string
		token string
		now   time.Time
		want  error
	}{
		{"Valid", "alice@example.com", "alice-token", T0, nil},
		{"ValidJustBeforeExpiry", "alice@example.com", "alice-token", exp.Add(-time.Nanosecond), nil},
		{"Unknown", "alice@example.com", "no-such-token", T0, safereset.ErrTokenInvalid},
		{"OtherUsersToken", "alice@example.com", "bob-token", T0, safereset.ErrTokenInvalid},
		{"UnknownEmail", "carol@example.com", "alice-token", T0, safereset.ErrTokenInvalid},
		{"UnnormalizedEmail", "Alice@example.com", "alice-token", T0, safereset.ErrTokenInvalid},
		{"ExpiredAtExpiry", "alice@example.com", "alice-token", exp, safereset.ErrTokenExpired},
		{"ExpiredAfter", "alice@example.com", "alice-token", exp.Add(time.Hour), safereset.ErrTokenExpired},
		{"OtherUsersExpiredToken", "alice@example.com", "bob-token", exp.Add(time.Hour), safereset.ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A refusal comes back as the sentinel itself, not wrapped
			// (safereset.IsTokenRefusal): every guess at a token gets
			// one, and a wrap would allocate on the brute-force path.
			err := db.CheckToken(ctx, tt.email, hashOf(tt.token), tt.now)
			if err != tt.want { //nolint:errorlint // the unwrapped sentinel is the contract
				t.Errorf("CheckToken = %v, want exactly %v", err, tt.want)
			}
		})
	}
}

func testTokens_ResetPassword(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	mustCreateUser(t, db, "bob@example.com")
	exp := T0.Add(time.Hour)
	MustRequest(t, db, "alice@example.com", "a1", exp)
	MustRequest(t, db, "alice@example.com", "a2", exp)
	MustRequest(t, db, "bob@example.com", "b1", exp)

	t.Run("OtherUsersTokenChangesNothing", func(t *testing.T) {
		_, err := db.ResetPassword(ctx, "alice@example.com", hashOf("b1"), "$argon2id$evil", T0)
		if !errors.Is(err, safereset.ErrTokenInvalid) {
			t.Fatalf("err = %v, want ErrTokenInvalid", err)
		}
		if u, _ := db.UserByEmail(ctx, "alice@example.com"); u.PasswordHash != "$argon2id$old" {
			t.Errorf("alice's hash changed to %q", u.PasswordHash)
		}
		if err := db.CheckToken(ctx, "bob@example.com", hashOf("b1"), T0); err != nil {
			t.Errorf("bob's token no longer valid: %v", err)
		}
	})
	t.Run("ExpiredChangesNothing", func(t *testing.T) {
		_, err := db.ResetPassword(ctx, "alice@example.com", hashOf("a1"), "$argon2id$late", exp)
		if !errors.Is(err, safereset.ErrTokenExpired) {
			t.Fatalf("err = %v, want ErrTokenExpired", err)
		}
		if u, _ := db.UserByEmail(ctx, "alice@example.com"); u.PasswordHash != "$argon2id$old" {
			t.Errorf("hash changed to %q by an expired token", u.PasswordHash)
		}
	})

	t.Run("EmptyHashRefused", func(t *testing.T) {
		if _, err := db.ResetPassword(ctx, "alice@example.com", hashOf("a1"), "", T0); err == nil {
			t.Fatal("ResetPassword with an empty hash succeeded")
		}
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("a1"), T0); err != nil {
			t.Errorf("token consumed by a refused reset: %v", err)
		}
	})

	now := T0.Add(10 * time.Minute)
	u, err := db.ResetPassword(ctx, "alice@example.com", hashOf("a1"), "$argon2id$new", now)
	if err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	if u.PasswordHash != "$argon2id$new" || !u.PasswordChangedAt.Equal(now) || u.Email != "alice@example.com" {
		t.Errorf("returned user = %+v", u)
	}
	stored, _ := db.UserByEmail(ctx, "alice@example.com")
	if !sameUser(stored, u) {
		t.Errorf("stored user %+v differs from returned %+v", stored, u)
	}
	for _, tok := range []string{"a1", "a2"} {
		if err := db.CheckToken(ctx, "alice@example.com", hashOf(tok), now); !errors.Is(err, safereset.ErrTokenInvalid) {
			t.Errorf("token %s after reset: err = %v, want ErrTokenInvalid", tok, err)
		}
	}
	if _, err := db.ResetPassword(ctx, "alice@example.com", hashOf("a2"), "$argon2id$again", now); !errors.Is(err, safereset.ErrTokenInvalid) {
		t.Errorf("reusing the other token: err = %v, want ErrTokenInvalid", err)
	}
	if err := db.CheckToken(ctx, "bob@example.com", hashOf("b1"), now); err != nil {
		t.Errorf("bob's token consumed by alice's reset: %v", err)
	}
}

func testTokens_MaxOutstanding(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("EvictsOldestByCreatedAt", func(t *testing.T) {
		db, clk := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		exp := T0.Add(time.Hour)
		// Created out of insertion order: t3 carries the oldest CreatedAt.
		created := map[string]time.Time{"t1": T0.Add(2 * time.Second), "t2": T0.Add(3 * time.Second), "t3": T0.Add(time.Second), "t4": T0.Add(4 * time.Second)}
		for _, tok := range []string{"t1", "t2", "t3", "t4"} {
			clk.Set(created[tok])
			found, err := db.RequestReset(ctx, "alice@example.com",
				safereset.ResetToken{Hash: hashOf(tok), CreatedAt: created[tok], ExpiresAt: exp}, 3, ComposeToken(tok))
			if err != nil || !found {
				t.Fatalf("RequestReset %s = %v, %v", tok, found, err)
			}
		}
		want := map[string]error{"t1": nil, "t2": nil, "t3": safereset.ErrTokenInvalid, "t4": nil}
		for tok, w := range want {
			if err := db.CheckToken(ctx, "alice@example.com", hashOf(tok), T0); !errors.Is(err, w) {
				t.Errorf("%s: err = %v, want %v", tok, err, w)
			}
		}
	})
	t.Run("SameInstantEvictsFirstInserted", func(t *testing.T) {
		db, _ := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		for i := range 5 {
			MustRequest(t, db, "alice@example.com", fmt.Sprint("s", i), T0.Add(time.Hour))
		}
		for i := range 5 {
			var want error
			if i < 2 {
				want = safereset.ErrTokenInvalid
			}
			if err := db.CheckToken(ctx, "alice@example.com", hashOf(fmt.Sprint("s", i)), T0); !errors.Is(err, want) {
				t.Errorf("s%d: err = %v, want %v", i, err, want)
			}
		}
	})
	t.Run("ExpiredTokensDropped", func(t *testing.T) {
		db, clk := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		MustRequest(t, db, "alice@example.com", "old", T0.Add(time.Minute))
		clk.Set(T0.Add(time.Hour))
		MustRequest(t, db, "alice@example.com", "new", T0.Add(2*time.Hour))
		// An expired token still present reports ErrTokenExpired; a dropped one is unknown.
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("old"), T0.Add(time.Hour)); !errors.Is(err, safereset.ErrTokenInvalid) {
			t.Errorf("expired token: err = %v, want it dropped (ErrTokenInvalid)", err)
		}
	})
	t.Run("OtherUsersUntouched", func(t *testing.T) {
		db, _ := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		mustCreateUser(t, db, "bob@example.com")
		MustRequest(t, db, "bob@example.com", "bob", T0.Add(time.Hour))
		for i := range 4 {
			MustRequest(t, db, "alice@example.com", fmt.Sprint("a", i), T0.Add(time.Hour))
		}
		if err := db.CheckToken(ctx, "bob@example.com", hashOf("bob"), T0); err != nil {
			t.Errorf("bob's token evicted by alice's requests: %v", err)
		}
	})
}

func testTokens_RequestReset(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("KnownUserQueuesMail", func(t *testing.T) {
		db, _ := fresh(t, open)
		alice := mustCreateUser(t, db, "Alice@Example.com")
		var composedFor safereset.User
		found, err := db.RequestReset(ctx, "alice@example.com",
			safereset.ResetToken{Hash: hashOf("tok"), UserID: 999, ExpiresAt: T0.Add(time.Hour)}, 3,
			func(u safereset.User) (safereset.Message, time.Time, error) {
				composedFor = u
				return ComposeToken("tok")(u)
			})
		if err != nil || !found {
			t.Fatalf("RequestReset = %v, %v", found, err)
		}
		if composedFor.ID != alice.ID || composedFor.Email != "Alice@Example.com" {
			t.Errorf("compose got %+v, want the stored user", composedFor)
		}
		// UserID 999 from the caller is overwritten with the user's ID.
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("tok"), T0); err != nil {
			t.Errorf("CheckToken: %v", err)
		}
		due, err := db.ClaimMail(ctx, T0, 10, time.Minute)
		if err != nil || len(due) != 1 {
			t.Fatalf("ClaimMail = %+v, %v", due, err)
		}
		e := due[0]
		if e.Message.To != "Alice@Example.com" || !strings.Contains(e.Message.Text, "tok") ||
			!e.CreatedAt.Equal(T0) || !e.NextAttempt.Equal(T0.Add(time.Minute)) || !e.NotAfter.Equal(T0.Add(time.Hour)) || e.Attempts != 0 {
			t.Errorf("queued entry = %+v", e)
		}
	})
	t.Run("UnknownUserNoTrace", func(t *testing.T) {
		db, _ := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		// compose runs for an unknown address too, for the address as
		// given and with no user ID, so both cases do the same work; its
		// mail is never queued.
		var called []safereset.User
		found, err := db.RequestReset(ctx, "mallory@example.com",
			safereset.ResetToken{Hash: hashOf("tok"), ExpiresAt: T0.Add(time.Hour)}, 3,
			func(u safereset.User) (safereset.Message, time.Time, error) {
				called = append(called, u)
				return safereset.Message{Kind: safereset.MailToken, To: u.Email, Text: "tok"}, T0.Add(time.Hour), nil
			})
		if err != nil || found {
			t.Fatalf("RequestReset = %v, %v; want false, nil", found, err)
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
		db, _ := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		exp := T0.Add(time.Hour)
		for _, tok := range []string{"k1", "k2", "k3"} {
			MustRequest(t, db, "alice@example.com", tok, exp)
		}
		boom := errors.New("template broken")
		_, err := db.RequestReset(ctx, "alice@example.com",
			safereset.ResetToken{Hash: hashOf("k4"), ExpiresAt: exp}, 3,
			func(safereset.User) (safereset.Message, time.Time, error) {
				return safereset.Message{}, time.Time{}, boom
			})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the compose error", err)
		}
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("k4"), T0); !errors.Is(err, safereset.ErrTokenInvalid) {
			t.Errorf("new token stored despite compose error: %v", err)
		}
		for _, tok := range []string{"k1", "k2", "k3"} {
			if err := db.CheckToken(ctx, "alice@example.com", hashOf(tok), T0); err != nil {
				t.Errorf("%s evicted despite compose error: %v", tok, err)
			}
		}
		if n, _, _ := db.OutboxStats(ctx); n != 3 {
			t.Errorf("outbox depth = %d, want the 3 earlier mails", n)
		}
	})
	t.Run("DuplicateHashRefused", func(t *testing.T) {
		db, _ := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		mustCreateUser(t, db, "bob@example.com")
		MustRequest(t, db, "alice@example.com", "same", T0.Add(time.Hour))
		_, err := db.RequestReset(ctx, "bob@example.com",
			safereset.ResetToken{Hash: hashOf("same"), ExpiresAt: T0.Add(time.Hour)}, 3, ComposeToken("same"))
		if err == nil {
			t.Fatal("RequestReset with a stored hash succeeded")
		}
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("same"), T0); err != nil {
			t.Errorf("alice's token disturbed: %v", err)
		}
	})
	t.Run("NoExpiryRefused", func(t *testing.T) {
		db, _ := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		if _, err := db.RequestReset(ctx, "alice@example.com", safereset.ResetToken{Hash: hashOf("x")}, 3, ComposeToken("x")); err == nil {
			t.Error("RequestReset with a zero ExpiresAt succeeded")
		}
	})
	t.Run("UnknownUserLeavesStoredHashAlone", func(t *testing.T) {
		db, _ := fresh(t, open)
		mustCreateUser(t, db, "alice@example.com")
		MustRequest(t, db, "alice@example.com", "same", T0.Add(time.Hour))
		found, err := db.RequestReset(ctx, "mallory@example.com",
			safereset.ResetToken{Hash: hashOf("same"), ExpiresAt: T0.Add(time.Hour)}, 3, ComposeToken("same"))
		if err != nil || found {
			t.Fatalf("RequestReset = %v, %v; want false, nil", found, err)
		}
		if err := db.CheckToken(ctx, "alice@example.com", hashOf("same"), T0); err != nil {
			t.Errorf("alice's token removed by a request for an unknown address: %v", err)
		}
		if n, _, _ := db.OutboxStats(ctx); n != 1 {
			t.Errorf("outbox depth = %d, want alice's 1", n)
		}
	})
}

// TestTokens_ConcurrentReset races many resets with one token: exactly one
// may win. Run with -race.
func testTokens_ConcurrentReset(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	MustRequest(t, db, "alice@example.com", "once", T0.Add(time.Hour))

	errs := race(50, func(i int) error {
		_, err := db.ResetPassword(ctx, "alice@example.com", hashOf("once"), fmt.Sprint("$argon2id$", i), T0)
		return err
	})
	winner := oneWinner(t, errs, "reset the password")
	u, _ := db.UserByEmail(ctx, "alice@example.com")
	if want := fmt.Sprint("$argon2id$", winner); u.PasswordHash != want {
		t.Errorf("stored hash %q, want the winner's %q", u.PasswordHash, want)
	}
}

// TestTokens_ConcurrentRequests issues many requests for one user at once:
// however they interleave, at most maxOutstanding tokens may survive, and
// each request queues exactly one mail.
func testTokens_ConcurrentRequests(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")

	const n = 20
	errs := race(n, func(i int) error {
		tok := fmt.Sprint("c", i)
		_, err := db.RequestReset(ctx, "alice@example.com",
			safereset.ResetToken{Hash: hashOf(tok), ExpiresAt: T0.Add(time.Hour)}, 3, ComposeToken(tok))
		return err
	})

	valid := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
		}
		if db.CheckToken(ctx, "alice@example.com", hashOf(fmt.Sprint("c", i)), T0) == nil {
			valid++
		}
	}
	if valid != 3 {
		t.Errorf("%d tokens outstanding after %d concurrent requests, want 3", valid, n)
	}
	if depth, _, _ := db.OutboxStats(ctx); depth != n {
		t.Errorf("outbox depth = %d, want %d", depth, n)
	}
}
