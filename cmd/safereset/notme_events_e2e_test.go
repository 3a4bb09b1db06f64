package main

import (
	"net/url"
	"testing"

	"github.com/safereset/safereset"
)

// TestNotMe_Events: the lock raises account.locked and the unlock
// account.unlocked, signed and about the stored account; an unlock that
// lifts nothing raises nothing.
func TestNotMe_Events(t *testing.T) {
	dir := t.TempDir()
	recv := newHookReceiver(t, dir, func(int) bool { return false })
	s := startServer(t, dir, hookArgs(recv)...)
	const addr = "events-lock@example.com"
	s.addUser(addr, oldPW)
	key := s.apiKey("shop")
	if r := s.post(key, addr); r.Status != 202 {
		t.Fatalf("POST: %d", r.Status)
	}
	text, _ := mailLink(t, s, addr, 1)
	link := lockLinkRE.FindString(text)
	if link == "" {
		t.Fatalf("no lock link:\n%s", text)
	}
	page := pageDo(t, "GET", replaceHost(link, s.Base), "", nil)
	if r := pageDo(t, "POST", s.Base+"/reset/not-me", "", formValues(t, page.Body)); r.Status != 200 {
		t.Fatalf("lock: %d\n%s", r.Status, r.Body)
	}
	locked := recv.waitAccepted(safereset.EventAccountLocked)
	if locked.Data.Email != addr || locked.Data.UserID == 0 || locked.Data.Client != "anonymous" {
		t.Errorf("account.locked data = %+v", locked.Data)
	}
	if st := s.admin("POST", "/admin/v1/users/unlock", map[string]string{"emailAddress": addr}, nil); st != 200 {
		t.Fatalf("unlock: %d", st)
	}
	unlocked := recv.waitAccepted(safereset.EventAccountUnlocked)
	if unlocked.Data.UserID != locked.Data.UserID || unlocked.Data.Client != "admin" {
		t.Errorf("account.unlocked data = %+v", unlocked.Data)
	}
	// A second unlock lifts nothing: no second event, which the next
	// event (a reload's) would otherwise follow in the FIFO outbox.
	if st := s.admin("POST", "/admin/v1/users/unlock", map[string]string{"emailAddress": addr}, nil); st != 200 {
		t.Fatalf("unlock again: %d", st)
	}
	if st := s.admin("POST", "/admin/v1/breach/reload", nil, nil); st != 200 {
		t.Fatalf("reload: %d", st)
	}
	recv.waitAccepted(safereset.EventFilterReloaded)
	if n := len(recv.acceptedOf(safereset.EventAccountUnlocked)); n != 1 {
		t.Errorf("%d account.unlocked events, want 1", n)
	}
	recv.check()
}

// replaceHost points a mailed link (which names the default host) at base.
func replaceHost(link, base string) string {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	return base + u.Path + "?" + u.RawQuery
}
