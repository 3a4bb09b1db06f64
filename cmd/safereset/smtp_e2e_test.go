package main

import (
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/mail/mailtest"
)

var linkRE = regexp.MustCompile(`https://app\.example/reset\?t=([0-9a-f]{32})&e=([^\s"<]+)`)

// tokenFrom returns the token of the link in a delivered token mail.
func tokenFrom(t *testing.T, m mailtest.Message) (token, email string) {
	t.Helper()
	p, err := mailtest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Subject, "token") || len(p.Subject) == 0 {
		t.Fatalf("subject %q", p.Subject)
	}
	mm := linkRE.FindStringSubmatch(p.Text)
	if mm == nil {
		t.Fatalf("no reset link in the mail:\n%s", p.Text)
	}
	e, _ := url.QueryUnescape(mm[2])
	for k, vs := range p.Header {
		for _, v := range vs {
			if strings.Contains(v, mm[1]) {
				t.Fatalf("token in header %s", k)
			}
		}
	}
	return mm[1], e
}

func smtpArgs(srv *mailtest.Server, extra ...string) []string {
	return append([]string{"--smtp-url", srv.URL(), "--mail-from", "noreply@app.example",
		"--reset-url", "https://app.example/reset?t={token}&e={email}", "--mail-retry-base", "100ms", "--mail-retry-max", "500ms"}, extra...)
}

// TestSMTP_DeliveredLinkWorks: the token mail arrives over real SMTP, its
// link carries a working token, the link ignores a poisoned Host header,
// and the confirmation mail follows the reset.
func TestSMTP_DeliveredLinkWorks(t *testing.T) {
	srv := mailtest.Start(t)
	s := startServer(t, "", smtpArgs(srv)...)
	s.addUser("Jane.Doe@example.com", oldPW)
	key := s.apiKey("smtp")

	// Host and forwarding headers from an attacker change nothing in the mail.
	r := s.do("POST", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key, "Host": "evil.example",
		"X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"}, `{"emailAddress":"JANE.DOE@EXAMPLE.COM"}`)
	if r.Status != 202 {
		t.Fatalf("POST: %d", r.Status)
	}
	msgs := srv.WaitFor(1, 20*time.Second)
	if strings.Contains(string(msgs[0].Data), "evil.example") {
		t.Fatal("Host header reached the mail")
	}
	if !reflect.DeepEqual(msgs[0].To, []string{"Jane.Doe@example.com"}) {
		t.Fatalf("mailed to %v, want the stored address", msgs[0].To)
	}
	tok, email := tokenFrom(t, msgs[0])
	if email != "Jane.Doe@example.com" {
		t.Fatalf("link email %q", email)
	}
	if r := s.patch(key, "jane.doe@example.com", strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("PATCH with the mailed token: %d %v", r.Status, r.Codes())
	}
	conf := srv.WaitFor(2, 20*time.Second)[1]
	p, _ := mailtest.Parse(conf.Data)
	if !strings.Contains(strings.ToLower(p.Subject), "changed") || strings.Contains(p.Text, tok) || !strings.Contains(strings.ToLower(p.Text), "did not") {
		t.Fatalf("confirmation mail: %q\n%s", p.Subject, p.Text)
	}
}

// TestSMTP_UnicodeVariantMailsOnlyStoredAddress: a look-alike address gets
// nothing and nobody else is mailed.
func TestSMTP_UnicodeVariantMailsOnlyStoredAddress(t *testing.T) {
	srv := mailtest.Start(t)
	s := startServer(t, "", smtpArgs(srv)...)
	s.addUser("kelvin@example.com", oldPW)
	key := s.apiKey("smtp")
	s.post(key, "\u212aelvin@example.com") // Kelvin sign: not the account
	s.post(key, "KELVIN@example.com")      // ASCII case: the account
	msgs := srv.WaitFor(1, 20*time.Second)
	if !reflect.DeepEqual(msgs[0].To, []string{"kelvin@example.com"}) {
		t.Fatalf("mailed %v", msgs[0].To)
	}
	// Drain: a third request to a known address arrives as the 2nd mail,
	// proving the look-alike's request produced no mail in between.
	s.post(key, "kelvin@example.com")
	if got := srv.WaitFor(2, 20*time.Second); len(got) != 2 || !reflect.DeepEqual(got[1].To, []string{"kelvin@example.com"}) {
		t.Fatalf("second mail %v", got[1].To)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Fatalf("%d mails", n)
	}
}

// TestSMTP_DownThenUp: with SMTP down (and slow) the POST answers exactly as
// with SMTP up, and the mail arrives once SMTP is back.
func TestSMTP_DownThenUp(t *testing.T) {
	srv := mailtest.Start(t)
	s := startServer(t, "", smtpArgs(srv, "--rate-request-email", "0")...)
	s.addUser(alice, oldPW)
	key := s.apiKey("smtp")
	send := func() response {
		return s.do("POST", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key, "X-Request-Id": "same"}, `{"emailAddress":"alice@example.com"}`)
	}
	up := send()
	srv.WaitFor(1, 20*time.Second)

	gate := make(chan struct{})
	srv.Script(mailtest.Behavior{Gate: gate}) // slow: held until the gate opens
	slow := send()
	if err := srv.WaitAttempts(2, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	close(gate)
	down := send()
	for name, r := range map[string]response{"slow": slow, "down": down} {
		if r.Status != up.Status || string(r.Body) != string(up.Body) || !reflect.DeepEqual(headerKeys(r.Header), headerKeys(up.Header)) {
			t.Fatalf("%s answered %d %q %v; up answered %d %q %v", name, r.Status, r.Body, r.Header, up.Status, up.Body, up.Header)
		}
	}
	srv.Restart()
	msgs := srv.WaitFor(3, 30*time.Second)
	tok, _ := tokenFrom(t, msgs[len(msgs)-1])
	if len(tok) != 32 {
		t.Fatal("no token")
	}
}

func headerKeys(h http.Header) []string {
	var ks []string
	for k := range h {
		// The clock and the per-IP count move between requests; all else is equal.
		if k != "Date" && k != "X-Ratelimit-Reset" && k != "X-Ratelimit-Remaining" {
			ks = append(ks, k+"="+strings.Join(h[k], ","))
		}
	}
	sortStrings(ks)
	return ks
}

// TestSMTP_PermanentFailureNotRetried: a 5xx drops the mail after one try.
func TestSMTP_PermanentFailureNotRetried(t *testing.T) {
	srv := mailtest.Start(t)
	srv.SetDefault(mailtest.Reply(550))
	s := startServer(t, "", smtpArgs(srv)...)
	s.addUser(alice, oldPW)
	key := s.apiKey("smtp")
	s.post(key, alice)
	waitFor(t, func() bool {
		return strings.Contains(metricLine(t, s.Admin, `safereset_mail_sends_total{kind="token",result="dropped"}`), " 1")
	}, "the drop")
	// The outbox is empty, so the worker has nothing left to try.
	waitFor(t, func() bool {
		return metricLine(t, s.Admin, "safereset_mail_outbox_depth") == "safereset_mail_outbox_depth 0"
	}, "empty outbox")
	if n := srv.Attempts(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
}

// TestSMTP_ConfirmationFailure: ER355 (502) and the new password works.
func TestSMTP_ConfirmationFailure(t *testing.T) {
	srv := mailtest.Start(t)
	s := startServer(t, "", smtpArgs(srv)...)
	s.addUser(alice, oldPW)
	key := s.apiKey("smtp")
	s.post(key, alice)
	tok, _ := tokenFrom(t, srv.WaitFor(1, 20*time.Second)[0])
	srv.Stop()
	r := s.patch(key, alice, strongPW, strongPW, tok)
	if r.Status != http.StatusBadGateway || !sameCodes(r.Codes(), safereset.ER355) {
		t.Fatalf("got %d %v, want 502 ER355", r.Status, r.Codes())
	}
	checkEnvelopeBytes(t, r.Body)
	if !s.verify(alice, strongPW) {
		t.Fatal("password not reset despite ER355")
	}
	if r := s.patch(key, alice, otherPW, otherPW, tok); !sameCodes(r.Codes(), safereset.ER352) {
		t.Fatalf("token still usable after ER355: %v", r.Codes())
	}
}

// TestSMTP_SurvivesRestart (real binary): a token mail queued while SMTP is
// down is delivered by the next run of safereset after SMTP comes back.
func TestSMTP_SurvivesRestart(t *testing.T) {
	srv := mailtest.Start(t)
	dir := t.TempDir()
	srv.Stop()
	p := startBinary(t, dir, smtpArgs(srv)...)
	p.addUser(alice, oldPW)
	key := p.apiKey("smtp")
	if r := p.post(key, alice); r.Status != 202 {
		t.Fatalf("POST with SMTP down: %d", r.Status)
	}
	waitFor(t, func() bool {
		return strings.Contains(metricLine(t, p.Admin, `safereset_mail_sends_total{kind="token",result="retry"}`), " ") &&
			!strings.HasSuffix(metricLine(t, p.Admin, `safereset_mail_sends_total{kind="token",result="retry"}`), " 0")
	}, "a failed attempt")
	if code := p.term(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	srv.Restart()
	p2 := startBinary(t, dir, smtpArgs(srv)...)
	msgs := srv.WaitFor(1, 30*time.Second)
	tok, _ := tokenFrom(t, msgs[0])
	if r := p2.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("token from the delayed mail: %d %v", r.Status, r.Codes())
	}
	p2.term(t)
	if n := len(srv.Messages()); n != 2 { // the token mail once, then the confirmation
		t.Fatalf("%d mails, want 2 (nothing sent twice)", n)
	}
}

// TestSMTP_SurvivesKill9 (real binary): a token mail acknowledged with 202
// while SMTP is down survives kill -9 and is delivered by the next run.
func TestSMTP_SurvivesKill9(t *testing.T) {
	srv := mailtest.Start(t)
	srv.Stop()
	dir := t.TempDir()
	p := startBinary(t, dir, smtpArgs(srv)...)
	p.addUser(alice, oldPW)
	key := p.apiKey("kill")
	if r := p.post(key, alice); r.Status != 202 {
		t.Fatalf("POST: %d", r.Status)
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	srv.Restart()
	p2 := startBinary(t, dir, smtpArgs(srv)...)
	tok, _ := tokenFrom(t, srv.WaitFor(1, 30*time.Second)[0])
	if r := p2.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("token from the mail after kill -9: %d %v", r.Status, r.Codes())
	}
	p2.term(t)
}
