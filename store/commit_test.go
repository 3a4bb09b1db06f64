package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/store/storetest"
)

// waitQueued waits until n calls are queued behind the transaction the
// test holds open (the callers are other goroutines).
func waitQueued(t *testing.T, db *store.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for store.QueuedCommits(db) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", store.QueuedCommits(db), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCommit_Group: calls that arrive while a transaction commits share
// the next one; each returns only once its change is committed, and every
// change is there after a reopen. A call that fails or panics inside the
// shared transaction fails alone: the others are committed without it.
func TestCommit_Group(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "safereset.db")
	opts := store.Options{Now: testclock.New(t0).Now, OutboxKey: testKey(t)}
	db := mustOpenPath(t, path, opts)
	const n = 40
	for i := range n {
		mustCreateUser(t, db, fmt.Sprintf("u%d@example.com", i))
	}
	release, held := store.HoldCommits(db)
	before := store.TxID(t, db)

	// Calls 4 and 5 carry one token: the store refuses whichever comes
	// second as a collision. Call 6 panics.
	tokOf := func(i int) string {
		if i == 5 {
			i = 4
		}
		return fmt.Sprintf("tok-%d", i)
	}
	errs := make([]error, n)
	found := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 6 {
				errs[i] = store.Batch(ctx, db, func() error { panic("bug in a transaction") })
				return
			}
			email := fmt.Sprintf("u%d@example.com", i)
			if i%4 == 3 {
				email = fmt.Sprintf("nobody%d@example.com", i) // unknown
			}
			tok := tokOf(i)
			found[i], errs[i] = db.RequestReset(ctx, email, safereset.ResetToken{Hash: hashOf(tok), ExpiresAt: t0.Add(time.Hour)}, 3,
				func(u safereset.User) (safereset.Message, time.Time, error) {
					return safereset.Message{Kind: safereset.MailToken, To: u.Email, Text: tok}, t0.Add(time.Hour), nil
				})
		}()
	}
	waitQueued(t, db, n)
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	lost := 5
	if errs[5] == nil {
		lost = 4
	}
	for i := range n {
		switch {
		case i == lost:
			if errs[i] == nil || !strings.Contains(errs[i].Error(), "already stored") {
				t.Errorf("call %d: err %v, want a token collision", i, errs[i])
			}
		case i == 6:
			if errs[i] == nil || !strings.Contains(errs[i].Error(), "panic") {
				t.Errorf("call %d: err %v, want the panic as an error", i, errs[i])
			}
		case errs[i] != nil:
			t.Errorf("call %d failed with the others' error: %v", i, errs[i])
		case found[i] != (i%4 != 3):
			t.Errorf("call %d: found %v", i, found[i])
		}
	}
	// The held call, then the group that failed (rolled back, not
	// counted), then each call of it alone, of which two roll back.
	if got := store.TxID(t, db) - before; got != 1+n-2 {
		t.Errorf("%d write transactions for %d calls, want %d", got, n+1, 1+n-2)
	}
	db.Close()

	db = mustOpenPath(t, path, opts)
	due, err := db.DueMail(ctx, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]int{}
	for _, e := range due {
		queued[e.Message.Text]++
	}
	for i := range n {
		if i == lost || i == 6 {
			continue
		}
		tok := tokOf(i)
		email := fmt.Sprintf("u%d@example.com", i)
		want := i%4 != 3
		if (queued[tok] == 1) != want {
			t.Errorf("mail of call %d queued %d times, want %v", i, queued[tok], want)
		}
		if err := db.CheckToken(ctx, email, hashOf(tok), t0); (err == nil) != want {
			t.Errorf("token of call %d valid = %v, want %v", i, err == nil, want)
		}
	}
}

// TestCommit_OneTransactionForAGroup: calls queued behind a busy commit go
// out in one transaction, not one each.
func TestCommit_OneTransactionForAGroup(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	mustCreateUser(t, db, "alice@example.com")
	const n = 30
	ids := make([]uint64, n)
	for i := range n {
		ids[i] = storetest.MustEnqueue(t, db, fmt.Sprintf("m%d", i), t0, t0)
	}
	release, held := store.HoldCommits(db)
	before := store.TxID(t, db)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = db.DeleteMail(ctx, ids[i], 0) }()
	}
	waitQueued(t, db, n)
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("DeleteMail %d: %v", i, err)
		}
	}
	if got := store.TxID(t, db) - before; got != 2 {
		t.Errorf("%d write transactions for the held call and %d queued deletes, want 2", got, n)
	}
	if depth, _, _ := db.OutboxStats(ctx); depth != 0 {
		t.Errorf("outbox depth %d, want 0", depth)
	}
}

// TestCommit_Close: Close commits what is queued; later writes fail
// cleanly.
func TestCommit_Close(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	id := storetest.MustEnqueue(t, db, "m", t0, t0)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteMail(ctx, id, 0); err == nil {
		t.Error("DeleteMail on a closed DB succeeded")
	}
	if _, err := db.RequestReset(ctx, "a@example.com", safereset.ResetToken{Hash: hashOf("x"), ExpiresAt: t0.Add(time.Hour)}, 3, storetest.ComposeToken("x")); err == nil {
		t.Error("RequestReset on a closed DB succeeded")
	}
}
