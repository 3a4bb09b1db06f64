package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safereset/safereset/mail/mailtest"
)

// TestAtRest_NoLockTokenInDatabaseOrBackup is TestAtRest_NoTokenInDatabaseOrBackup
// for the "this wasn't me" tokens: token mails held and retried in the
// outbox, confirmation mails (whose lock token is stored on its own), a
// lock token used; then the raw database file, including its free pages,
// and a hot backup taken while the mails were queued hold none of the
// lock tokens the mails carried.
func TestAtRest_NoLockTokenInDatabaseOrBackup(t *testing.T) {
	const users, requests = 4, 40
	srv := mailtest.Start(t)
	srv.SetDefault(mailtest.Reply(451)) // hold every mail in the outbox, retrying
	s := startServer(t, "", notMeArgs(srv)...)
	key := s.apiKey("atrest-lock")
	var addrs []string
	for i := range users {
		addrs = append(addrs, fmt.Sprintf("lockuser%d@example.com", i))
		s.addUser(addrs[i], oldPW)
	}
	for i := range requests {
		if r := s.post(key, addrs[i%users]); r.Status != 202 {
			t.Fatalf("POST: %d %s", r.Status, r.Body)
		}
	}
	if err := srv.WaitAttempts(2*requests, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "backup.tgz")
	if out, errs, code := cli(t, s, "", "backup", "--data-dir", s.DataDir, archive); code != 0 {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	srv.SetDefault(mailtest.Accept)
	msgs := srv.WaitFor(requests, 60*time.Second)

	// A reset sends a confirmation mail with a stored lock token; another
	// account is locked with its newest mail's link, using up that token.
	tok, _ := tokenFromText(t, msgs[len(msgs)-1])
	resetAddr := addrs[(requests-1)%users]
	if r := s.patch(key, resetAddr, "kDWPe4qf$&mgM26&8hX", "kDWPe4qf$&mgM26&8hX", tok); r.Status != 204 {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	lockMail := msgs[len(msgs)-2]
	link, _ := lockLinkOf(t, lockMail, s.Base)
	page := pageDo(t, "GET", link, "", nil)
	if r := pageDo(t, "POST", s.Base+"/reset/not-me", "", formValues(t, page.Body)); r.Status != 200 {
		t.Fatalf("lock: %d\n%s", r.Status, r.Body)
	}
	msgs = srv.WaitFor(requests+1, 20*time.Second)
	var lockTokens []string
	for _, m := range msgs {
		_, lt := lockLinkOf(t, m, s.Base)
		lockTokens = append(lockTokens, lt)
	}
	waitFor(t, func() bool { return metricValue(t, s.Admin, "safereset_mail_outbox_depth") == 0 }, "an empty outbox")
	s.Stop()

	raw, err := os.ReadFile(filepath.Join(s.DataDir, "safereset.db"))
	if err != nil {
		t.Fatal(err)
	}
	entries, stream := readArchive(t, archive)
	if entries["safereset.db"] == nil {
		t.Fatalf("no database in the backup")
	}
	for name, b := range map[string][]byte{"database file": raw, "backup's database": entries["safereset.db"], "backup (whole, uncompressed)": stream} {
		if found := leaked(b, lockTokens); len(found) > 0 {
			t.Errorf("%s: %d of %d lock tokens readable, e.g. %s", name, len(found), len(lockTokens), found[0])
		}
		if found := leaked(b, []string{"/reset/not-me"}); len(found) > 0 {
			t.Errorf("%s: lock link readable", name)
		}
	}
	if found := leaked([]byte(s.Log.String()), lockTokens); len(found) > 0 {
		t.Errorf("log shows a lock token")
	}
	if len(lockTokens) != requests+1 {
		t.Fatalf("collected %d lock tokens, want %d", len(lockTokens), requests+1)
	}
	t.Logf("searched %d lock tokens in %d bytes of database and %d bytes of backup", len(lockTokens), len(raw), len(stream))
}
