package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

// Copier is what `store copy` needs from an engine; the copy case runs
// when the engine under test has it.
type Copier interface {
	Export(ctx context.Context) (safereset.Dump, error)
	Import(ctx context.Context, d safereset.Dump) error
}

// lockToken returns a lock token for text made at created, expiring
// after ttl.
func lockToken(text string, created time.Time, ttl time.Duration) safereset.LockToken {
	return safereset.LockToken{Hash: hashOf(text), CreatedAt: created, ExpiresAt: created.Add(ttl)}
}

func mustAddLock(t testing.TB, db Store, emailKey string, lt safereset.LockToken) {
	t.Helper()
	if err := db.AddLockToken(context.Background(), emailKey, lt); err != nil {
		t.Fatalf("AddLockToken: %v", err)
	}
}

// wantErr fails unless err matches want (nil meaning no error).
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s = %v, want %v", what, err, want)
	}
}

// depthAndAudit returns the outbox depth and the number of audit entries.
func depthAndAudit(t testing.TB, db Store) (int, int) {
	t.Helper()
	depth, _, err := db.OutboxStats(context.Background())
	if err != nil {
		t.Fatalf("OutboxStats: %v", err)
	}
	got, err := db.AuditLog(context.Background(), safereset.AuditQuery{})
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return depth, len(got)
}

func testLock_TokenCheck(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	mustCreateUser(t, db, "bob@example.com")
	mustAddLock(t, db, "alice@example.com", lockToken("alice-lock", T0, time.Hour))
	mustAddLock(t, db, "bob@example.com", lockToken("bob-lock", T0, time.Hour))
	exp := T0.Add(time.Hour)

	tests := []struct {
		name, email, token string
		now                time.Time
		want               error
	}{
		{"Valid", "alice@example.com", "alice-lock", T0, nil},
		{"ValidJustBeforeExpiry", "alice@example.com", "alice-lock", exp.Add(-time.Nanosecond), nil},
		{"Unknown", "alice@example.com", "no-such-lock", T0, safereset.ErrTokenInvalid},
		{"OtherUsersToken", "alice@example.com", "bob-lock", T0, safereset.ErrTokenInvalid},
		{"UnknownEmail", "carol@example.com", "alice-lock", T0, safereset.ErrTokenInvalid},
		{"ExpiredAtExpiry", "alice@example.com", "alice-lock", exp, safereset.ErrTokenExpired},
		{"ExpiredAfter", "alice@example.com", "alice-lock", exp.Add(time.Hour), safereset.ErrTokenExpired},
		{"OtherUsersExpiredToken", "alice@example.com", "bob-lock", exp.Add(time.Hour), safereset.ErrTokenInvalid},
		// A lock token is not a reset token, nor the other way round.
		{"NotAResetToken", "alice@example.com", "alice-reset", T0, safereset.ErrTokenInvalid},
	}
	MustRequest(t, db, "alice@example.com", "alice-reset", exp)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "CheckLockToken", db.CheckLockToken(ctx, tt.email, hashOf(tt.token), tt.now), tt.want)
		})
	}
	wantErr(t, "CheckToken of a lock token", db.CheckToken(ctx, "alice@example.com", hashOf("alice-lock"), T0), safereset.ErrTokenInvalid)
	wantErr(t, "AddLockToken for an unknown address",
		db.AddLockToken(ctx, "carol@example.com", lockToken("carol-lock", T0, time.Hour)), safereset.ErrUserNotFound)
	wantErr(t, "CheckLockToken after AddLockToken for an unknown address",
		db.CheckLockToken(ctx, "alice@example.com", hashOf("carol-lock"), T0), safereset.ErrTokenInvalid)
}

func testLock_RequestResetStoresLock(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	tok := safereset.ResetToken{Hash: hashOf("reset"), ExpiresAt: T0.Add(time.Hour), Lock: lockToken("lock", T0, 7*24*time.Hour)}
	found, err := db.RequestReset(ctx, "alice@example.com", tok, 3, ComposeToken("reset"))
	if err != nil || !found {
		t.Fatalf("RequestReset = %v, %v", found, err)
	}
	wantErr(t, "CheckToken", db.CheckToken(ctx, "alice@example.com", hashOf("reset"), T0), nil)
	wantErr(t, "CheckLockToken", db.CheckLockToken(ctx, "alice@example.com", hashOf("lock"), T0), nil)
	// The lock token outlives its reset token.
	late := T0.Add(2 * time.Hour)
	wantErr(t, "CheckToken after its expiry", db.CheckToken(ctx, "alice@example.com", hashOf("reset"), late), safereset.ErrTokenExpired)
	wantErr(t, "CheckLockToken after the reset token's expiry", db.CheckLockToken(ctx, "alice@example.com", hashOf("lock"), late), nil)

	// Without a lock token nothing but the reset token is stored.
	found, err = db.RequestReset(ctx, "alice@example.com", safereset.ResetToken{Hash: hashOf("plain"), ExpiresAt: T0.Add(time.Hour)}, 3, ComposeToken("plain"))
	if err != nil || !found {
		t.Fatalf("RequestReset without a lock = %v, %v", found, err)
	}
	if _, err := db.LockAccount(ctx, "alice@example.com", [32]byte{}, T0, T0.Add(time.Hour)); !errors.Is(err, safereset.ErrTokenInvalid) {
		t.Errorf("LockAccount with the zero hash = %v, want ErrTokenInvalid", err)
	}
}

func testLock_Eviction(t *testing.T, open Open) {
	ctx := context.Background()
	db, clk := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	mustCreateUser(t, db, "bob@example.com")
	mustAddLock(t, db, "bob@example.com", lockToken("bob", T0, time.Hour))

	// Expired tokens go first: "short" has run out when the next is added.
	mustAddLock(t, db, "alice@example.com", lockToken("short", T0, time.Minute))
	clk.Advance(2 * time.Minute)
	// Eviction goes by CreatedAt, not insertion order: "first" is stored
	// first but made after all the others.
	mustAddLock(t, db, "alice@example.com", lockToken("first", T0.Add(100*time.Second), time.Hour))
	n := safereset.MaxLockTokens
	for i := range n {
		mustAddLock(t, db, "alice@example.com", lockToken(fmt.Sprint("lock", i), T0.Add(time.Duration(i)*time.Second), time.Hour))
	}
	wantErr(t, "CheckLockToken of the expired token (at a time it was live)",
		db.CheckLockToken(ctx, "alice@example.com", hashOf("short"), T0), safereset.ErrTokenInvalid)
	wantErr(t, "CheckLockToken first", db.CheckLockToken(ctx, "alice@example.com", hashOf("first"), T0), nil)
	for i := range n {
		var want error
		if i == 0 {
			want = safereset.ErrTokenInvalid
		}
		wantErr(t, fmt.Sprint("CheckLockToken lock", i), db.CheckLockToken(ctx, "alice@example.com", hashOf(fmt.Sprint("lock", i)), T0), want)
	}
	// One more through RequestReset evicts the next oldest.
	tok := safereset.ResetToken{Hash: hashOf("reset"), ExpiresAt: T0.Add(time.Hour), Lock: lockToken("via-request", T0.Add(200*time.Second), time.Hour)}
	if found, err := db.RequestReset(ctx, "alice@example.com", tok, 3, ComposeToken("reset")); err != nil || !found {
		t.Fatalf("RequestReset = %v, %v", found, err)
	}
	wantErr(t, "CheckLockToken via-request", db.CheckLockToken(ctx, "alice@example.com", hashOf("via-request"), T0), nil)
	wantErr(t, "CheckLockToken of the next oldest", db.CheckLockToken(ctx, "alice@example.com", hashOf("lock1"), T0), safereset.ErrTokenInvalid)
	wantErr(t, "CheckLockToken first after RequestReset", db.CheckLockToken(ctx, "alice@example.com", hashOf("first"), T0), nil)
	wantErr(t, "CheckLockToken of the newest", db.CheckLockToken(ctx, "alice@example.com", hashOf(fmt.Sprint("lock", n-1)), T0), nil)
	// Another user's tokens are never evicted.
	wantErr(t, "CheckLockToken bob", db.CheckLockToken(ctx, "bob@example.com", hashOf("bob"), T0), nil)
}

func testLock_LockAccount(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	mustCreateUser(t, db, "bob@example.com")
	exp := T0.Add(time.Hour)
	MustRequest(t, db, "alice@example.com", "a1", exp)
	MustRequest(t, db, "alice@example.com", "a2", exp)
	MustRequest(t, db, "bob@example.com", "b1", exp)
	mustAddLock(t, db, "alice@example.com", lockToken("lock1", T0, 2*time.Hour))
	mustAddLock(t, db, "alice@example.com", lockToken("lock2", T0, 2*time.Hour))
	mustAddLock(t, db, "alice@example.com", lockToken("short", T0, time.Minute))

	// Refused calls change nothing and record nothing.
	depth0, audit0 := depthAndAudit(t, db)
	if _, err := db.LockAccount(ctx, "alice@example.com", hashOf("short"), T0.Add(time.Minute), T0.Add(24*time.Hour), audited(safereset.AuditAction("account.locked"))); !errors.Is(err, safereset.ErrTokenExpired) {
		t.Errorf("LockAccount with an expired token = %v, want ErrTokenExpired", err)
	}
	for _, tc := range []struct{ email, token string }{{"alice@example.com", "nope"}, {"bob@example.com", "lock1"}, {"carol@example.com", "lock1"}} {
		if _, err := db.LockAccount(ctx, tc.email, hashOf(tc.token), T0, T0.Add(24*time.Hour), audited(safereset.AuditAction("account.locked"))); !errors.Is(err, safereset.ErrTokenInvalid) {
			t.Errorf("LockAccount(%s, %s) = %v, want ErrTokenInvalid", tc.email, tc.token, err)
		}
	}
	wantErr(t, "CheckToken a1 after refused locks", db.CheckToken(ctx, "alice@example.com", hashOf("a1"), T0), nil)
	wantErr(t, "CheckLockToken short at a time it was live", db.CheckLockToken(ctx, "alice@example.com", hashOf("short"), T0), nil)
	if u, _ := db.UserByEmail(ctx, "alice@example.com"); !u.LockedUntil.IsZero() {
		t.Errorf("refused locks set LockedUntil %v", u.LockedUntil)
	}
	if d, a := depthAndAudit(t, db); d != depth0 || a != audit0 {
		t.Errorf("refused locks wrote effects: depth %d→%d, audit %d→%d", depth0, d, audit0, a)
	}

	until := T0.Add(24 * time.Hour)
	u, err := db.LockAccount(ctx, "alice@example.com", hashOf("lock1"), T0, until, audited(safereset.AuditAction("account.locked")))
	if err != nil {
		t.Fatalf("LockAccount: %v", err)
	}
	if !u.LockedUntil.Equal(until) || u.EmailKey != "alice@example.com" {
		t.Errorf("LockAccount returned %+v, want alice locked until %v", u, until)
	}
	if d, a := depthAndAudit(t, db); d != depth0+1 || a != audit0+1 {
		t.Errorf("LockAccount effects: depth %d→%d, audit %d→%d; want one more of each", depth0, d, audit0, a)
	}
	stored, err := db.UserByEmail(ctx, "alice@example.com")
	if err != nil || !stored.LockedUntil.Equal(until) || !stored.Locked(T0) || stored.Locked(until) {
		t.Errorf("stored user LockedUntil %v (err %v), want %v", stored.LockedUntil, err, until)
	}
	for _, tok := range []string{"a1", "a2"} {
		wantErr(t, "CheckToken "+tok+" after the lock", db.CheckToken(ctx, "alice@example.com", hashOf(tok), T0), safereset.ErrTokenInvalid)
	}
	if _, err := db.ResetPassword(ctx, "alice@example.com", hashOf("a1"), "$new", T0); !errors.Is(err, safereset.ErrTokenInvalid) {
		t.Errorf("ResetPassword after the lock = %v, want ErrTokenInvalid", err)
	}
	wantErr(t, "CheckToken of another user", db.CheckToken(ctx, "bob@example.com", hashOf("b1"), T0), nil)

	// Single use: the token is gone; the user's other lock token is not.
	wantErr(t, "CheckLockToken lock1 after use", db.CheckLockToken(ctx, "alice@example.com", hashOf("lock1"), T0), safereset.ErrTokenInvalid)
	if _, err := db.LockAccount(ctx, "alice@example.com", hashOf("lock1"), T0, until.Add(time.Hour)); !errors.Is(err, safereset.ErrTokenInvalid) {
		t.Errorf("second LockAccount with one token = %v, want ErrTokenInvalid", err)
	}
	wantErr(t, "CheckLockToken lock2", db.CheckLockToken(ctx, "alice@example.com", hashOf("lock2"), T0), nil)

	// A shorter lock keeps the later one in place.
	u, err = db.LockAccount(ctx, "alice@example.com", hashOf("lock2"), T0, T0.Add(time.Hour))
	if err != nil || !u.LockedUntil.Equal(until) {
		t.Errorf("shorter LockAccount = %v, LockedUntil %v; want the kept %v", err, u.LockedUntil, until)
	}
	if u, _ := db.UserByEmail(ctx, "alice@example.com"); !u.LockedUntil.Equal(until) {
		t.Errorf("stored LockedUntil %v after a shorter lock, want %v", u.LockedUntil, until)
	}
	// A longer one extends it.
	mustAddLock(t, db, "alice@example.com", lockToken("lock3", T0, 2*time.Hour))
	later := until.Add(time.Hour)
	if u, err := db.LockAccount(ctx, "alice@example.com", hashOf("lock3"), T0, later); err != nil || !u.LockedUntil.Equal(later) {
		t.Errorf("longer LockAccount = %v, LockedUntil %v; want %v", err, u.LockedUntil, later)
	}
	if u, _ := db.UserByEmail(ctx, "bob@example.com"); !u.LockedUntil.IsZero() {
		t.Errorf("bob was locked too: %v", u.LockedUntil)
	}
}

// testLock_ConcurrentLock races many LockAccount calls with one token:
// exactly one wins, and its effects are written once.
func testLock_ConcurrentLock(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	mustAddLock(t, db, "alice@example.com", lockToken("once", T0, time.Hour))
	_, audit0 := depthAndAudit(t, db)

	errs := race(50, func(i int) error {
		_, err := db.LockAccount(ctx, "alice@example.com", hashOf("once"), T0,
			T0.Add(time.Duration(i+1)*time.Hour), audited(safereset.AuditAction("account.locked")))
		return err
	})
	winner := oneWinner(t, errs, "locked the account")
	u, _ := db.UserByEmail(ctx, "alice@example.com")
	if want := T0.Add(time.Duration(winner+1) * time.Hour); !u.LockedUntil.Equal(want) {
		t.Errorf("stored LockedUntil %v, want the winner's %v", u.LockedUntil, want)
	}
	if _, a := depthAndAudit(t, db); a != audit0+1 {
		t.Errorf("audit entries %d→%d, want exactly one more", audit0, a)
	}
}

// testLock_RequestWhileLocked: a locked account is answered like an
// unknown address and keeps nothing; once the lock runs out (or is
// lifted) requests work again.
func testLock_RequestWhileLocked(t *testing.T, open Open) {
	ctx := context.Background()
	db, clk := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	mustAddLock(t, db, "alice@example.com", lockToken("lock", T0, time.Hour))
	until := T0.Add(24 * time.Hour)
	if _, err := db.LockAccount(ctx, "alice@example.com", hashOf("lock"), T0, until); err != nil {
		t.Fatalf("LockAccount: %v", err)
	}
	depth0, audit0 := depthAndAudit(t, db)

	request := func(name string) (bool, error) {
		tok := safereset.ResetToken{Hash: hashOf(name), ExpiresAt: clk.Now().Add(time.Hour), Lock: lockToken(name+"-lock", clk.Now(), time.Hour)}
		return db.RequestReset(ctx, "alice@example.com", tok, 3, ComposeToken(name), audited(safereset.AuditTokenRequested))
	}
	for _, at := range []time.Time{T0, until.Add(-time.Nanosecond)} {
		clk.Set(at)
		name := fmt.Sprint("while-locked-", at.Unix())
		found, err := request(name)
		if err != nil || found {
			t.Errorf("RequestReset at %v while locked = %v, %v; want false, nil", at, found, err)
		}
		wantErr(t, "CheckToken of a token requested while locked", db.CheckToken(ctx, "alice@example.com", hashOf(name), at), safereset.ErrTokenInvalid)
		wantErr(t, "CheckLockToken of a lock token requested while locked", db.CheckLockToken(ctx, "alice@example.com", hashOf(name+"-lock"), at), safereset.ErrTokenInvalid)
		if d, a := depthAndAudit(t, db); d != depth0 || a != audit0 {
			t.Errorf("a request while locked left a trace: depth %d→%d, audit %d→%d", depth0, d, audit0, a)
		}
	}
	// A token created before the lock was set would be judged by its
	// CreatedAt: the rule is User.Locked(tok.CreatedAt).
	clk.Set(until)
	found, err := request("after")
	if err != nil || !found {
		t.Fatalf("RequestReset once the lock ran out = %v, %v; want true, nil", found, err)
	}
	wantErr(t, "CheckToken after the lock", db.CheckToken(ctx, "alice@example.com", hashOf("after"), until), nil)
	wantErr(t, "CheckLockToken after the lock", db.CheckLockToken(ctx, "alice@example.com", hashOf("after-lock"), until), nil)
	if d, a := depthAndAudit(t, db); d != depth0+2 || a != audit0+1 {
		t.Errorf("request after the lock: depth %d→%d, audit %d→%d; want a mail, a webhook and an audit entry", depth0, d, audit0, a)
	}
}

func testLock_Unlock(t *testing.T, open Open) {
	ctx := context.Background()
	db, clk := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	unlocked := audited(safereset.AuditAction("account.unlocked"))
	if _, err := db.UnlockAccount(ctx, "carol@example.com", unlocked); !errors.Is(err, safereset.ErrUserNotFound) {
		t.Errorf("UnlockAccount unknown = %v, want ErrUserNotFound", err)
	}
	_, audit0 := depthAndAudit(t, db)
	// Not locked: succeeds, changes nothing, records nothing.
	u, err := db.UnlockAccount(ctx, "alice@example.com", unlocked)
	if err != nil || !u.LockedUntil.IsZero() || u.EmailKey != "alice@example.com" {
		t.Errorf("UnlockAccount of an unlocked account = %+v, %v", u, err)
	}
	if _, a := depthAndAudit(t, db); a != audit0 {
		t.Errorf("unlocking an unlocked account recorded %d audit entries", a-audit0)
	}

	mustAddLock(t, db, "alice@example.com", lockToken("lock", T0, time.Hour))
	if _, err := db.LockAccount(ctx, "alice@example.com", hashOf("lock"), T0, T0.Add(24*time.Hour)); err != nil {
		t.Fatalf("LockAccount: %v", err)
	}
	clk.Advance(time.Hour)
	u, err = db.UnlockAccount(ctx, "alice@example.com", unlocked)
	if err != nil || !u.LockedUntil.IsZero() {
		t.Fatalf("UnlockAccount = LockedUntil %v, %v; want zero, nil", u.LockedUntil, err)
	}
	if stored, _ := db.UserByEmail(ctx, "alice@example.com"); !stored.LockedUntil.IsZero() {
		t.Errorf("stored LockedUntil %v after unlock", stored.LockedUntil)
	}
	if _, a := depthAndAudit(t, db); a != audit0+1 {
		t.Errorf("unlock recorded %d audit entries, want 1", a-audit0)
	}
	if _, err := db.UnlockAccount(ctx, "alice@example.com", unlocked); err != nil {
		t.Errorf("second UnlockAccount: %v", err)
	}
	if _, a := depthAndAudit(t, db); a != audit0+1 {
		t.Errorf("the second unlock recorded %d more audit entries", a-audit0-1)
	}
	found, err := db.RequestReset(ctx, "alice@example.com", safereset.ResetToken{Hash: hashOf("again"), ExpiresAt: clk.Now().Add(time.Hour)}, 3, ComposeToken("again"))
	if err != nil || !found {
		t.Errorf("RequestReset after unlock = %v, %v", found, err)
	}
	wantErr(t, "CheckToken after unlock", db.CheckToken(ctx, "alice@example.com", hashOf("again"), clk.Now()), nil)
}

func testLock_DeleteUserRemovesLockTokens(t *testing.T, open Open) {
	ctx := context.Background()
	db, _ := fresh(t, open)
	mustCreateUser(t, db, "alice@example.com")
	mustAddLock(t, db, "alice@example.com", lockToken("lock", T0, time.Hour))
	if err := db.DeleteUser(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CheckLockToken after delete", db.CheckLockToken(ctx, "alice@example.com", hashOf("lock"), T0), safereset.ErrTokenInvalid)
	// A new account under the address does not inherit the token, and the
	// hash can be stored again.
	mustCreateUser(t, db, "alice@example.com")
	wantErr(t, "CheckLockToken for the new account", db.CheckLockToken(ctx, "alice@example.com", hashOf("lock"), T0), safereset.ErrTokenInvalid)
	if _, err := db.LockAccount(ctx, "alice@example.com", hashOf("lock"), T0, T0.Add(time.Hour)); !errors.Is(err, safereset.ErrTokenInvalid) {
		t.Errorf("LockAccount of the new account with the old token = %v", err)
	}
	mustAddLock(t, db, "alice@example.com", lockToken("lock", T0, time.Hour))
	wantErr(t, "CheckLockToken re-added", db.CheckLockToken(ctx, "alice@example.com", hashOf("lock"), T0), nil)
}

// testLock_Copy exports a store holding a lock and lock tokens and imports
// it into a fresh one of the same engine (the cross-engine direction is
// the copy command's test).
func testLock_Copy(t *testing.T, open Open) {
	ctx := context.Background()
	src, clk := fresh(t, open)
	srcCopier, ok := src.(Copier)
	if !ok {
		t.Skip("engine has no Export/Import")
	}
	mustCreateUser(t, src, "alice@example.com")
	mustCreateUser(t, src, "bob@example.com")
	mustAddLock(t, src, "alice@example.com", lockToken("used", T0, time.Hour))
	until := T0.Add(24 * time.Hour)
	if _, err := src.LockAccount(ctx, "alice@example.com", hashOf("used"), T0, until); err != nil {
		t.Fatal(err)
	}
	mustAddLock(t, src, "alice@example.com", lockToken("alice-live", T0, 48*time.Hour))
	mustAddLock(t, src, "bob@example.com", lockToken("bob-live", T0, 48*time.Hour))
	mustAddLock(t, src, "bob@example.com", lockToken("bob-dies", T0, 2*time.Hour))
	clk.Advance(3 * time.Hour) // bob-dies is no longer live

	d, err := srcCopier.Export(ctx)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if len(d.LockTokens) != 2 {
		t.Errorf("exported %d lock tokens, want the 2 live ones", len(d.LockTokens))
	}
	dst, _ := fresh(t, open)
	if err := dst.(Copier).Import(ctx, d); err != nil {
		t.Fatalf("Import: %v", err)
	}
	u, err := dst.UserByEmail(ctx, "alice@example.com")
	if err != nil || !u.LockedUntil.Equal(until) {
		t.Errorf("copied alice: LockedUntil %v, %v; want %v", u.LockedUntil, err, until)
	}
	if u, _ := dst.UserByEmail(ctx, "bob@example.com"); !u.LockedUntil.IsZero() {
		t.Errorf("copied bob is locked until %v", u.LockedUntil)
	}
	now := T0.Add(3 * time.Hour)
	wantErr(t, "copied alice-live", dst.CheckLockToken(ctx, "alice@example.com", hashOf("alice-live"), now), nil)
	wantErr(t, "copied bob-live", dst.CheckLockToken(ctx, "bob@example.com", hashOf("bob-live"), now), nil)
	wantErr(t, "copied bob-dies (left behind)", dst.CheckLockToken(ctx, "bob@example.com", hashOf("bob-dies"), T0), safereset.ErrTokenInvalid)
	wantErr(t, "copied used token", dst.CheckLockToken(ctx, "alice@example.com", hashOf("used"), T0), safereset.ErrTokenInvalid)
	// The copied lock is in force and the copied token still locks once.
	found, err := dst.RequestReset(ctx, "alice@example.com", safereset.ResetToken{Hash: hashOf("r"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 3, ComposeToken("r"))
	if err != nil || found {
		t.Errorf("RequestReset on the copy while locked = %v, %v", found, err)
	}
	if _, err := dst.LockAccount(ctx, "bob@example.com", hashOf("bob-live"), now, now.Add(time.Hour)); err != nil {
		t.Errorf("LockAccount with a copied token: %v", err)
	}
	// A non-empty store refuses an import of lock tokens alone.
	other, _ := fresh(t, open)
	mustCreateUser(t, other, "carol@example.com")
	if err := other.(Copier).Import(ctx, safereset.Dump{LockTokens: d.LockTokens}); err == nil {
		t.Error("Import into a non-empty store succeeded")
	}
}
