package main

import (
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset/mail/mailtest"
)

// TestSMTP_CredentialsNeverInClear: with credentials in --smtp-url and a
// real relay that offers no STARTTLS, the server sends neither AUTH nor the
// token mail: each try is a delivery error, logged with its reason, counted
// and retried. starttls=none is the explicit opt-out and then delivers.
func TestSMTP_CredentialsNeverInClear(t *testing.T) {
	const relayPW = "relay-secret-pw-42"
	srv := mailtest.Start(t, mailtest.WithAuth("relayuser", relayPW)) // no STARTTLS
	s := startServer(t, "", smtpArgs(srv)...)
	s.addUser(alice, oldPW)
	key := s.apiKey("smtp")
	if r := s.post(key, alice); r.Status != 202 {
		t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	// Retried: the worker's backoff is 100 ms to 500 ms here.
	waitFor(t, func() bool {
		return strings.Count(s.Log.String(), "STARTTLS required but not offered") >= 2
	}, "two failed tries that say why")
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages delivered over a clear connection", n)
	}
	if line := metricLine(t, s.Admin, `safereset_mail_sends_total{kind="token",result="retry"}`); line == "" || strings.HasSuffix(line, " 0") {
		t.Fatalf("retries not counted: %q", line)
	}
	if strings.Contains(s.Log.String(), relayPW) {
		t.Fatal("relay password in the log")
	}
	s.Stop()

	optOut := startServer(t, "", "--smtp-url", srv.URL()+"?starttls=none", "--mail-from", "noreply@app.example",
		"--reset-url", "https://app.example/reset?t={token}&e={email}")
	optOut.addUser(alice, oldPW)
	if r := optOut.post(optOut.apiKey("smtp"), alice); r.Status != 202 {
		t.Fatalf("POST: %d", r.Status)
	}
	if m := srv.WaitFor(1, 20*time.Second)[0]; m.AuthUser != "relayuser" || m.TLS {
		t.Fatalf("opt-out delivery: AuthUser %q TLS %v", m.AuthUser, m.TLS)
	}
}
