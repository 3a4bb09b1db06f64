package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset/mail/mailtest"
)

// lockLinkRE finds the "this wasn't me" link in a mail's text part.
var lockLinkRE = regexp.MustCompile(`https?://[^\s"<]+/reset/not-me\?[^\s"<]+`)

// lockLinkOf returns the lock link in m's text part, pointed at base (the
// mails name the configured host; the test's server listens elsewhere),
// and its token.
func lockLinkOf(t *testing.T, m mailtest.Message, base string) (link, token string) {
	t.Helper()
	p, err := mailtest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	raw := lockLinkRE.FindString(p.Text)
	if raw == "" {
		t.Fatalf("no lock link in the mail:\n%s", p.Text)
	}
	if !strings.Contains(p.HTML, strings.ReplaceAll(raw, "&", "&amp;")) {
		t.Errorf("HTML part lacks the text part's lock link %s", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return base + u.Path + "?" + u.RawQuery, u.Query().Get("token")
}

// notMeArgs are a mailtest relay and the default page, with no rate
// limits in the way of the flow.
func notMeArgs(srv *mailtest.Server, extra ...string) []string {
	return append([]string{"--smtp-url", srv.URL(), "--mail-from", "noreply@app.example",
		"--rate-ip", "0", "--rate-request-email", "0", "--mail-retry-base", "100ms", "--mail-retry-max", "500ms"}, extra...)
}

// TestNotMe_LockThroughMailLink drives the real binary: the token mail's
// lock link is opened (nothing changes), its button pressed (the account
// locks, the reset token of the same mail dies), a token request while
// locked answers what an unknown address gets and queues no mail, the
// lock link is single use, and `safereset user unlock` lifts the lock.
func TestNotMe_LockThroughMailLink(t *testing.T) {
	srv := mailtest.Start(t)
	s := startBinary(t, "", notMeArgs(srv, "--lock-duration", "2h")...)
	const victim, other, newPW = "victim@example.com", "other@example.com", "kDWPe4qf$&mgM26&8hX"
	s.addUser(victim, oldPW)
	s.addUser(other, oldPW)
	key := s.apiKey("notme")

	if r := s.post(key, victim); r.Status != 202 {
		t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	msgs := srv.WaitFor(1, 20*time.Second)
	resetTok, _ := tokenFromText(t, msgs[0])
	link, lockTok := lockLinkOf(t, msgs[0], s.Base)
	if lockTok == resetTok || len(lockTok) != 32 {
		t.Fatalf("lock token %q, reset token %q", lockTok, resetTok)
	}

	// GET twice: the page, the same both times, and nothing changed.
	var page pageResponse
	for range 2 {
		page = pageDo(t, "GET", link, "", nil)
		if page.Status != 200 || !strings.Contains(page.Body, `<button type="submit" id="lock">Lock password resets</button>`) {
			t.Fatalf("GET lock link: %d\n%s", page.Status, page.Body)
		}
		checkPageHeaders(t, page)
	}
	if got := metricValue(t, s.Admin, "safereset_account_locks_total"); got != 0 {
		t.Fatalf("locks after GET = %v, want 0", got)
	}
	if r := pageDo(t, "GET", s.Base+"/reset?token="+resetTok+"&email="+url.QueryEscape(victim), "", nil); r.Status != 200 {
		t.Fatalf("the reset link died from a GET of the lock link: %d", r.Status)
	}

	// A forged post (no CSRF value, or the reset form's) changes nothing.
	form := formValues(t, page.Body)
	forged := url.Values{"token": {lockTok}, "emailAddress": {victim}, "csrf": {"x"}}
	if r := pageDo(t, "POST", s.Base+"/reset/not-me", "", forged); r.Status != 403 {
		t.Fatalf("forged POST: %d", r.Status)
	}

	before := time.Now()
	done := pageDo(t, "POST", s.Base+"/reset/not-me", "", form)
	checkPageHeaders(t, done)
	if done.Status != 200 || !strings.Contains(done.Body, "Password resets for your account are locked until ") {
		t.Fatalf("POST lock: %d\n%s", done.Status, done.Body)
	}
	until := regexp.MustCompile(`locked until (\d{4}-\d\d-\d\d \d\d:\d\d) UTC`).FindStringSubmatch(done.Body)
	if at, err := time.Parse("2006-01-02 15:04", until[1]); err != nil || at.Before(before.Add(2*time.Hour-time.Minute).UTC().Truncate(time.Minute)) || at.After(time.Now().Add(2*time.Hour).UTC()) {
		t.Errorf("locked until %q, want about 2h from now (%v)", until[1], err)
	}
	if got := metricValue(t, s.Admin, "safereset_account_locks_total"); got != 1 {
		t.Errorf("safereset_account_locks_total = %v, want 1", got)
	}
	if got := responses(t, s.Admin, "not-me", "OK"); got != 3 {
		t.Errorf(`responses{route="not-me",code="OK"} = %v, want 3 (two GETs, one POST)`, got)
	}

	// The reset token of the same mail is dead, on the API and the page.
	if r := s.patch(key, victim, newPW, newPW, resetTok); r.Status != 400 || strings.Join(r.Codes(), ",") != "ER352" {
		t.Errorf("PATCH with the pre-lock token: %d %v", r.Status, r.Codes())
	}
	// The lock link is single use.
	if r := pageDo(t, "POST", s.Base+"/reset/not-me", "", form); r.Status != 400 || !strings.Contains(r.Body, "This link is invalid or was already used.") {
		t.Errorf("second POST: %d\n%s", r.Status, r.Body)
	}
	if r := pageDo(t, "GET", link, "", nil); r.Status != 400 {
		t.Errorf("GET of the used lock link: %d", r.Status)
	}

	// While locked: the same 202 as an unknown address, and no mail. The
	// outbox is FIFO, so once the other user's later mail is there, the
	// victim's would have been sent before it.
	unknown := s.post(key, "nobody@example.com")
	logBefore := len(s.Log.String())
	locked := s.post(key, victim)
	if locked.Status != 202 || unknown.Status != 202 || string(locked.Body) != string(unknown.Body) {
		t.Fatalf("locked %d %q, unknown %d %q", locked.Status, locked.Body, unknown.Status, unknown.Body)
	}
	if diff := headerDiff(locked.Header, unknown.Header); diff != "" {
		t.Errorf("a locked account's answer differs from an unknown address's: %s", diff)
	}
	lockedReqID := locked.Header.Get("X-Request-Id")
	if r := s.post(key, other); r.Status != 202 {
		t.Fatalf("POST other: %d", r.Status)
	}
	msgs = srv.WaitFor(2, 20*time.Second)
	if n := len(msgs); n != 2 || !strings.Contains(string(msgs[1].Data), other) {
		t.Fatalf("%d mails after the lock; want the first plus the other user's", n)
	}
	for _, line := range strings.Split(s.Log.String()[logBefore:], "\n") {
		if strings.Contains(line, lockedReqID) && (strings.Contains(strings.ToLower(line), "lock") || strings.Contains(line, "victim")) {
			t.Errorf("log line of the locked request tells: %s", line)
		}
	}

	// Unlocked through the CLI, the account gets mail again.
	if out, errs, code := cli(t, s.testServer, "", "user", "unlock", victim); code != 0 || out != "unlocked\n" {
		t.Fatalf("user unlock: %d %q %q", code, out, errs)
	}
	if r := s.post(key, victim); r.Status != 202 {
		t.Fatal(r.Status)
	}
	msgs = srv.WaitFor(3, 20*time.Second)
	if !strings.Contains(string(msgs[2].Data), victim) {
		t.Fatalf("no mail for the unlocked account")
	}
	var audit struct {
		Entries []struct{ Action, Actor string }
	}
	if st := s.admin("GET", "/admin/v1/audit?limit=1000", nil, &audit); st != 200 {
		t.Fatal(st)
	}
	var actions []string
	for _, e := range audit.Entries {
		if strings.HasPrefix(e.Action, "account.") {
			actions = append(actions, e.Action+" by "+e.Actor)
		}
	}
	if got := strings.Join(actions, "; "); got != "account.locked by anonymous; account.unlocked by admin" {
		t.Errorf("audit of the lock: %q", got)
	}
	if strings.Contains(s.Log.String(), lockTok) || strings.Contains(s.Log.String(), victim) {
		t.Error("the log shows the lock token or the address")
	}
}

// TestNotMe_ConfirmationMailLocks: the confirmation mail's link locks too,
// after the reset it confirms.
func TestNotMe_ConfirmationMailLocks(t *testing.T) {
	srv := mailtest.Start(t)
	s := startServer(t, "", notMeArgs(srv)...)
	const addr, newPW = "confirm-lock@example.com", "kDWPe4qf$&mgM26&8hX"
	s.addUser(addr, oldPW)
	key := s.apiKey("notme")
	s.post(key, addr)
	tok, _ := tokenFromText(t, srv.WaitFor(1, 20*time.Second)[0])
	if r := s.patch(key, addr, newPW, newPW, tok); r.Status != 204 {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	msgs := srv.WaitFor(2, 20*time.Second)
	link, _ := lockLinkOf(t, msgs[1], s.Base)
	page := pageDo(t, "GET", link, "de", nil)
	if page.Status != 200 || !strings.Contains(page.Body, "Zurücksetzen sperren") {
		t.Fatalf("GET: %d\n%s", page.Status, page.Body)
	}
	done := pageDo(t, "POST", s.Base+"/reset/not-me", "de", formValues(t, page.Body))
	if done.Status != 200 || !strings.Contains(done.Body, "ist für Ihr Konto bis ") {
		t.Fatalf("POST: %d\n%s", done.Status, done.Body)
	}
	// The admin route answers the user; an unknown address is 404.
	var u struct{ EmailAddress string }
	if st := s.admin("POST", "/admin/v1/users/unlock", map[string]string{"emailAddress": addr}, &u); st != 200 || u.EmailAddress != addr {
		t.Errorf("unlock: %d %+v", st, u)
	}
	if st := s.admin("POST", "/admin/v1/users/unlock", map[string]string{"emailAddress": "nobody@example.com"}, nil); st != 404 {
		t.Errorf("unlock unknown: %d", st)
	}
	if st := s.admin("POST", "/admin/v1/users/unlock", map[string]string{"emailAddress": "not an address"}, nil); st != 400 {
		t.Errorf("unlock bad address: %d", st)
	}
	if _, errs, code := cli(t, s, "", "user", "unlock", "nobody@example.com"); code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "no user") {
		t.Errorf("CLI unlock unknown: %d %q", code, errs)
	}
	if _, errs, code := cli(t, s, "", "user", "unlock"); code == 0 || strings.Count(errs, "\n") != 1 {
		t.Errorf("CLI unlock without an address: %d %q", code, errs)
	}
}

// TestNotMe_BadLinks: a missing, mangled or unknown lock link is a page
// saying so, counted under the reset token's codes, and changes nothing.
func TestNotMe_BadLinks(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0")
	s.addUser("bad-links@example.com", oldPW)
	for _, tc := range []struct {
		query string
		code  string
	}{
		{"", "ER351"},
		{"?token=xyz&email=bad-links%40example.com", "ER352"},
		{"?token=0123456789abcdef0123456789abcdef&email=bad-links%40example.com", "ER352"},
		{"?token=0123456789abcdef0123456789abcdef&email=nobody%40example.com", "ER352"},
		{"?token=0123456789abcdef0123456789abcdef&email=nope", "ER352"},
	} {
		r := pageDo(t, "GET", s.Base+"/reset/not-me"+tc.query, "fr", nil)
		checkPageHeaders(t, r)
		if r.Status != 400 || !strings.Contains(r.Body, "Ce lien") || strings.Contains(r.Body, "<form") {
			t.Errorf("GET %q: %d\n%s", tc.query, r.Status, r.Body)
		}
	}
	if got := responses(t, s.Admin, "not-me", "ER352"); got != 4 {
		t.Errorf(`responses{route="not-me",code="ER352"} = %v, want 4`, got)
	}
	// A post that is not a form, or without its CSRF value.
	req, _ := http.NewRequest("POST", s.Base+"/reset/not-me", strings.NewReader(`{"token":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("JSON post: %d", resp.StatusCode)
	}
	if r := pageDo(t, "POST", s.Base+"/reset/not-me", "", url.Values{"token": {"0123456789abcdef0123456789abcdef"}, "emailAddress": {"bad-links@example.com"}}); r.Status != 403 {
		t.Errorf("POST without csrf: %d", r.Status)
	}
}

// TestNotMe_Off: --reset-page=false serves no lock page and mails no lock
// link; --lock-url then is refused.
func TestNotMe_Off(t *testing.T) {
	srv := mailtest.Start(t)
	s := startServer(t, "", notMeArgs(srv, "--reset-page=false")...)
	s.addUser("off@example.com", oldPW)
	if r := pageDo(t, "GET", s.Base+"/reset/not-me?token=0123456789abcdef0123456789abcdef&email=off%40example.com", "", nil); r.Status != 404 {
		t.Errorf("GET with the page off: %d", r.Status)
	}
	s.post(s.apiKey("off"), "off@example.com")
	p, err := mailtest.Parse(srv.WaitFor(1, 20*time.Second)[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Text, "not-me") || strings.Contains(p.HTML, "not-me") {
		t.Errorf("mail carries a lock link with the page off:\n%s", p.Text)
	}
	for _, args := range [][]string{
		{"--reset-page=false", "--lock-url", "https://id.example/reset/not-me?token={token}"},
		{"--lock-url", "https://id.example/no-token"},
		{"--lock-duration", "10s"},
		{"--lock-link-ttl", "30m"},
	} {
		if _, errs, code := cli(t, nil, "", append([]string{"config", "check", "--data-dir", t.TempDir()}, args...)...); code == 0 || strings.Count(errs, "\n") != 1 {
			t.Errorf("config check %v: %d %q", args, code, errs)
		}
	}
}

// tokenFromText returns the reset token of a token mail sent with the
// default --reset-url.
func tokenFromText(t *testing.T, m mailtest.Message) (token, email string) {
	t.Helper()
	p, err := mailtest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	mm := regexp.MustCompile(`/reset\?token=([0-9a-f]{32})&email=([^\s"<]+)`).FindStringSubmatch(p.Text)
	if mm == nil {
		t.Fatalf("no reset link in the mail:\n%s", p.Text)
	}
	e, _ := url.QueryUnescape(mm[2])
	return mm[1], e
}

// headerDiff describes how two answers' headers differ, leaving out the
// ones that differ on every request.
func headerDiff(a, b http.Header) string {
	skip := map[string]bool{"Date": true, "X-Request-Id": true}
	var diffs []string
	for _, h := range []http.Header{a, b} {
		for k := range h {
			if skip[k] {
				continue
			}
			if av, bv := strings.Join(a.Values(k), ","), strings.Join(b.Values(k), ","); av != bv {
				if k == "Ratelimit-Reset" || k == "X-Ratelimit-Reset" {
					continue // seconds to a window's end, moving with the clock
				}
				diffs = append(diffs, k+": "+av+" vs "+bv)
			}
		}
	}
	b2, _ := json.Marshal(diffs)
	if len(diffs) == 0 {
		return ""
	}
	return string(b2)
}

// TestNotMe_RateLimited: the lock page shares the reset page's per-IP
// bucket, and a refusal is a page with the page's headers, not JSON.
func TestNotMe_RateLimited(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "3-M")
	target := s.Base + "/reset/not-me?token=0123456789abcdef0123456789abcdef&email=a%40example.com"
	for i := range 3 {
		if r := pageDo(t, "GET", target, "", nil); r.Status != 400 {
			t.Fatalf("GET %d: %d", i, r.Status)
		}
	}
	r := pageDo(t, "POST", s.Base+"/reset/not-me", "nl", url.Values{"token": {"x"}})
	checkPageHeaders(t, r)
	if r.Status != 429 || !strings.Contains(r.Body, "Te veel pogingen.") {
		t.Errorf("fourth request: %d\n%s", r.Status, r.Body)
	}
	if r := pageDo(t, "GET", s.Base+"/reset?token=0123456789abcdef0123456789abcdef&email=a%40example.com", "", nil); r.Status != 429 {
		t.Errorf("the reset page after the lock page's requests: %d, want 429 (one bucket)", r.Status)
	}
	if got := responses(t, s.Admin, "not-me", "ER429"); got != 1 {
		t.Errorf(`responses{route="not-me",code="ER429"} = %v, want 1`, got)
	}
}
