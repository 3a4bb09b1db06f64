package main

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/postgres"
	"github.com/safereset/safereset/store"
)

var copiedRE = regexp.MustCompile(`^copied and verified: (\d+) users, (\d+) tokens, (\d+) lock tokens, (\d+) API keys, (\d+) queued mails, (\d+) audit entries, (\d+) shared keys\n$`)

// A deployment moved off bbolt keeps working: same users and passwords,
// API keys, live tokens and queued mails; and it moves back.
func TestStoreCopy_BboltToPostgresAndBack(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--rate-ip", "0")
	s.addUser(alice, oldPW)
	if st := s.admin("POST", "/admin/v1/users", map[string]string{"emailAddress": "bob@example.com", "password": oldPW, "locale": "nl"}, nil); st != 201 {
		t.Fatalf("create bob: %d", st)
	}
	key := s.apiKey("moved")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	_, trail, _ := auditPage(t, s, "")
	if len(trail) != 4 {
		t.Fatalf("%d audit entries before the copy, want 4 (2 users, 1 API key, 1 token request)", len(trail))
	}
	s.Stop()

	// A mail still queued when the old node stopped.
	outboxKey, err := loadOutboxKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "safereset.db"), store.Options{OutboxKey: outboxKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnqueueMail(context.Background(), safereset.OutboxEntry{
		Message: safereset.Message{Kind: safereset.MailConfirmation, To: "bob@example.com", Subject: "queued", Text: "still queued"},
	}); err != nil {
		t.Fatal(err)
	}
	// Bob said "this wasn't me": his lock and his spare lock link must move.
	ctx := context.Background()
	bobLock, bobSpare := sha256.Sum256([]byte("bob's lock link")), sha256.Sum256([]byte("bob's other lock link"))
	for _, h := range [][32]byte{bobLock, bobSpare} {
		if err := db.AddLockToken(ctx, "bob@example.com", safereset.LockToken{Hash: h, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	locked, err := db.LockAccount(ctx, "bob@example.com", bobLock, time.Now(), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	url := pgtest.New(t)
	out, _, err := runCmd(t, "store", "copy", "--from", filepath.Join(dir, "safereset.db"), "--to", url)
	if m := copiedRE.FindStringSubmatch(out); err != nil || m == nil || m[1] != "2" || m[2] != "1" || m[3] != "2" || m[4] != "1" || m[5] != "1" || m[6] != "4" || m[7] != "2" {
		t.Fatalf("store copy printed %q, %v; want 2 users, 1 token, 2 lock tokens, 1 API key, 1 queued mail, 4 audit entries, 2 shared keys", out, err)
	}
	out, _, err = runCmd(t, "store", "copy", "--from", filepath.Join(dir, "safereset.db"), "--to", url)
	if err == nil || !strings.Contains(err.Error(), "not empty") && !strings.Contains(err.Error(), "already holds data") {
		t.Fatalf("second copy into the same database: %q, %v; want a refusal", out, err)
	}

	// Back into a new bbolt file: the counts are those of the source.
	back := filepath.Join(t.TempDir(), "safereset.db")
	out, _, err = runCmd(t, "store", "copy", "--from", url, "--to", back)
	if err != nil {
		t.Fatalf("copy back: %v", err)
	}
	m := copiedRE.FindStringSubmatch(out)
	if m == nil || m[1] != "2" || m[2] != "1" || m[3] != "2" || m[4] != "1" || m[5] != "1" || m[6] != "4" || m[7] != "2" {
		t.Fatalf("copy back printed %q; want 2 users, 1 token, 2 lock tokens, 1 API key, 1 queued mail, 4 audit entries, 2 shared keys", out)
	}

	pg, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := pg.UserByEmail(ctx, "bob@example.com")
	pg.Close()
	if err != nil || !bob.LockedUntil.Truncate(time.Microsecond).Equal(locked.LockedUntil.Truncate(time.Microsecond)) {
		t.Fatalf("bob's lock after the copy: %v, %v; want until %v", bob.LockedUntil, err, locked.LockedUntil)
	}

	// The moved deployment: the old API key, password and live token work,
	// and the queued mail goes out.
	p := startServer(t, "", "--database-url", url, "--rate-ip", "0")
	if !p.verify(alice, oldPW) {
		t.Fatal("alice's password did not survive the copy")
	}
	if r := p.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("PATCH with the live token after the copy: %d %s", r.Status, r.Body)
	}
	// The trail moved with its ids, and new lines continue after them.
	checkTrailMoved(t, trail, p)
	pb := startServer(t, filepath.Dir(back), "--rate-ip", "0")
	pb.apiKey("after-copy-back")
	checkTrailMoved(t, trail, pb)
	waitFor(t, func() bool {
		return len(p.mailsTo("bob@example.com", "still queued")) == 1
	}, "the queued mail delivered after the move")

	// Bob's locale moved with him: once his lock (checked above) is
	// lifted, his next token mail is in Dutch.
	if st := p.admin("POST", "/admin/v1/users/unlock", map[string]string{"emailAddress": "bob@example.com"}, nil); st != 200 {
		t.Fatalf("unlock bob after the move: %d", st)
	}
	if r := p.post(key, "bob@example.com"); r.Status != 202 {
		t.Fatalf("request for bob after the move: %d", r.Status)
	}
	p.waitToken("bob@example.com", 1)
	if subjects, _ := mailsTo(t, p, "bob@example.com"); !slices.Contains(subjects, "Je safereset-wachtwoord opnieuw instellen") {
		t.Errorf("bob's locale did not survive the copy: subjects %q", subjects)
	}
}

// checkTrailMoved checks that s's audit trail starts with the entries of
// the source, same ids and contents, and that the lines written since
// come after them.
func checkTrailMoved(t *testing.T, src []safereset.AuditEntry, s *testServer) {
	t.Helper()
	_, got, _ := auditPage(t, s, "")
	if len(got) <= len(src) {
		t.Fatalf("%d audit entries after the copy, want the %d copied and then the new ones", len(got), len(src))
	}
	for i, e := range src {
		g := got[i]
		if g.ID != e.ID || g.Action != e.Action || g.Actor != e.Actor || g.UserID != e.UserID || g.RequestID != e.RequestID ||
			g.ClientAddr != e.ClientAddr || g.Target != e.Target || !g.Time.Equal(e.Time.Truncate(time.Microsecond)) {
			t.Errorf("audit entry %d after the copy = %+v, want %+v", i, g, e)
		}
	}
	for i := len(src); i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Errorf("new audit entry %d has id %d, not after %d", i, got[i].ID, got[i-1].ID)
		}
	}
}
