package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/seal"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/store/storetest"
)

func testKey(t testing.TB) []byte {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tokenOf is the 32-hex token text a test request carries.
func tokenOf(i int) string { return fmt.Sprintf("%032x", 0xfeed0000+i) }

// TestSealed_NoTokenInFile queues token mails, reschedules them (each
// rewrite leaves the old page free, not overwritten) and deletes them as
// the worker does, then reads the raw file and a backup: no token and no
// text of the mail may be in either, live or free pages alike.
func TestSealed_NoTokenInFile(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New(t0)
	path := filepath.Join(t.TempDir(), "safereset.db")
	key := testKey(t)
	db := mustOpenPath(t, path, store.Options{Now: clk.Now, OutboxKey: key})
	mustCreateUser(t, db, "alice@example.com")
	const n = 200
	var tokens []string
	for i := range n {
		tok := tokenOf(i)
		tokens = append(tokens, tok)
		storetest.MustRequest(t, db, "alice@example.com", tok, t0.Add(time.Hour))
	}
	due, err := db.DueMail(ctx, t0, 0)
	if err != nil || len(due) != n {
		t.Fatalf("DueMail = %d entries, %v", len(due), err)
	}
	var backup bytes.Buffer
	for i, e := range due {
		if e.Unreadable || e.Message.Text != "token "+tokens[i] {
			t.Fatalf("entry %d = %+v, want its token mail", i, e)
		}
		if err := db.RescheduleMail(ctx, e.ID, e.Claim, t0.Add(time.Minute), 1, "451 try later"); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			if _, err := db.Backup(ctx, &backup); err != nil {
				t.Fatal(err)
			}
		}
	}
	again, err := db.DueMail(ctx, t0.Add(time.Minute), 0)
	if err != nil || len(again) != n || again[0].Message.Text != "token "+tokens[0] || again[0].Attempts != 1 {
		t.Fatalf("after reschedule: %d entries, %+v, %v", len(again), again[0], err)
	}
	for _, e := range again {
		if err := db.DeleteMail(ctx, e.ID, e.Claim); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"file": raw, "backup": backup.Bytes()} {
		for _, tok := range tokens {
			if bytes.Contains(b, []byte(tok)) {
				t.Fatalf("%s holds token %s", name, tok)
			}
		}
		// The account's address stays in the users bucket; the mail's
		// copy of it, its subject and its text are sealed.
		for _, clue := range []string{"token " + tokens[0][:8], `"subject"`, "Reset"} {
			if bytes.Contains(b, []byte(clue)) {
				t.Errorf("%s holds mail text %q", name, clue)
			}
		}
	}
}

// TestSealed_WrongKey: a file opened with another key (a backup restored
// without its key) yields its queued entries as Unreadable, with the
// scheduling fields intact and no error, and they can still be deleted.
func TestSealed_WrongKey(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New(t0)
	path := filepath.Join(t.TempDir(), "safereset.db")
	db := mustOpenPath(t, path, store.Options{Now: clk.Now, OutboxKey: testKey(t)})
	mustCreateUser(t, db, "alice@example.com")
	storetest.MustRequest(t, db, "alice@example.com", tokenOf(1), t0.Add(time.Hour))
	db.Close()

	db = mustOpenPath(t, path, store.Options{Now: clk.Now, OutboxKey: testKey(t)})
	due, err := db.DueMail(ctx, t0, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("DueMail = %+v, %v", due, err)
	}
	e := due[0]
	if !e.Unreadable || e.Message.Kind != safereset.MailToken || e.Message.To != "" || e.Message.Text != "" ||
		!e.NotAfter.Equal(t0.Add(time.Hour)) || !e.CreatedAt.Equal(t0) {
		t.Errorf("entry under the wrong key = %+v", e)
	}
	if n, oldest, err := db.OutboxStats(ctx); err != nil || n != 1 || !oldest.Equal(t0) {
		t.Errorf("OutboxStats = %d, %v, %v", n, oldest, err)
	}
	if err := db.DeleteMail(ctx, e.ID, e.Claim); err != nil {
		t.Errorf("DeleteMail of an unreadable entry: %v", err)
	}

	if _, err := store.Open(filepath.Join(t.TempDir(), "x.db"), store.Options{OutboxKey: []byte("short")}); err == nil {
		t.Error("Open accepted a 5-byte outbox key")
	}
}

// TestSealed_MovedRecord: a sealed message copied onto another entry's ID
// does not open there (the ID is the additional data).
func TestSealed_MovedRecord(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	a := storetest.MustEnqueue(t, db, "first", t0, t0)
	b := storetest.MustEnqueue(t, db, "second", t0, t0)
	if err := store.CopyOutboxRecord(ctx, db, a, b); err != nil {
		t.Fatal(err)
	}
	due, err := db.DueMail(ctx, t0, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("DueMail = %+v, %v", due, err)
	}
	if due[0].Unreadable || due[0].Message.Subject != "first" {
		t.Errorf("entry a = %+v", due[0])
	}
	if !due[1].Unreadable || due[1].Message.Subject != "" {
		t.Errorf("entry b carries a's sealed message and opened: %+v", due[1])
	}
}

// TestSealed_LegacyEntriesResealed: an outbox entry stored in clear by an
// older version is sealed when the file is opened and still delivered.
func TestSealed_LegacyEntriesResealed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "safereset.db")
	key := testKey(t)
	db := mustOpenPath(t, path, store.Options{OutboxKey: key})
	tok := tokenOf(7)
	if err := store.PutLegacyOutboxEntry(ctx, db, safereset.OutboxEntry{ID: 9,
		Message:   safereset.Message{Kind: safereset.MailToken, To: "bob@example.com", Text: "token=" + tok},
		CreatedAt: t0, NotAfter: t0.Add(time.Hour), NextAttempt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DueMail(ctx, t0, 10); err == nil {
		t.Error("a clear entry was read as if sealed")
	}
	db.Close()
	db = mustOpenPath(t, path, store.Options{OutboxKey: key})
	due, err := db.DueMail(ctx, t0, 10)
	if err != nil || len(due) != 1 || due[0].ID != 9 || due[0].Message.Text != "token="+tok || due[0].Unreadable {
		t.Fatalf("DueMail after reopen = %+v, %v", due, err)
	}
	live, err := store.OutboxRecordBytes(ctx, db, 9)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(live, []byte(tok)) {
		t.Error("legacy entry still in clear after reopen")
	}
}
