package main

import (
	"strings"
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
	archive := holdMailsAndBackUp(t, s, srv, key, "lockuser%d@example.com", users, requests)
	srv.SetDefault(mailtest.Accept)
	msgs := srv.WaitFor(requests, 60*time.Second)

	// A reset sends a confirmation mail with a stored lock token; another
	// account is locked with its mail's link, using up that token. Both
	// take fresh requests: the held mails above arrive in retry order,
	// and beyond --max-outstanding-tokens the older ones are evicted.
	const resetAddr, lockAddr = "atrest-reset@example.com", "atrest-lock@example.com"
	s.addUser(resetAddr, oldPW)
	s.addUser(lockAddr, oldPW)
	mailTo := func(addr string, n int) mailtest.Message {
		t.Helper()
		if r := s.post(key, addr); r.Status != 202 {
			t.Fatalf("POST: %d", r.Status)
		}
		got := srv.WaitFor(n, 20*time.Second)
		for _, m := range got[requests:] {
			if strings.Contains(string(m.Data), addr) {
				return m
			}
		}
		t.Fatalf("no mail to %s", addr)
		return mailtest.Message{}
	}
	tok, _ := tokenFromText(t, mailTo(resetAddr, requests+1))
	if r := s.patch(key, resetAddr, "kDWPe4qf$&mgM26&8hX", "kDWPe4qf$&mgM26&8hX", tok); r.Status != 204 {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	link, _ := lockLinkOf(t, mailTo(lockAddr, requests+3), s.Base)
	page := pageDo(t, "GET", link, "", nil)
	if r := pageDo(t, "POST", s.Base+"/reset/not-me", "", formValues(t, page.Body)); r.Status != 200 {
		t.Fatalf("lock: %d\n%s", r.Status, r.Body)
	}
	msgs = srv.Messages()
	var lockTokens []string
	for _, m := range msgs {
		_, lt := lockLinkOf(t, m, s.Base)
		lockTokens = append(lockTokens, lt)
	}
	waitFor(t, func() bool { return metricValue(t, s.Admin, "safereset_mail_outbox_depth") == 0 }, "an empty outbox")
	s.Stop()

	disk := atRest(t, s.DataDir, archive)
	scanFor(t, disk, "lock tokens", lockTokens)
	scanFor(t, disk, "lock links", []string{"/reset/not-me"})
	scanFor(t, map[string][]byte{"log": []byte(s.Log.String())}, "lock tokens", lockTokens)
	if len(lockTokens) != requests+3 {
		t.Fatalf("collected %d lock tokens, want %d", len(lockTokens), requests+3)
	}
	t.Logf("searched %d lock tokens in %d bytes of database and %d bytes of backup", len(lockTokens), len(disk["database file"]), len(disk["backup (whole, uncompressed)"]))
}
