package mailtest_test

import (
	"crypto/tls"
	"errors"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/safereset/safereset/mail/mailtest"
)

const msg = "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"

func send(t *testing.T, c *smtp.Client) error {
	t.Helper()
	return c.SendMail("a@example.com", []string{"b@example.com"}, strings.NewReader(msg))
}

func dial(t *testing.T, s *mailtest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestServer_Script(t *testing.T) {
	s := mailtest.Start(t)
	s.Script(mailtest.Reply(451), mailtest.Reply(550), mailtest.Behavior{Stage: mailtest.StageRcpt, Code: 452})
	c := dial(t, s)
	for _, want := range []int{451, 550, 452} {
		if got := smtpCode(send(t, c)); got != want {
			t.Errorf("reply %d, want %d", got, want)
		}
	}
	if err := send(t, c); err != nil {
		t.Fatalf("default Accept: %v", err)
	}
	msgs := s.WaitFor(1, 5*time.Second)
	if len(msgs) != 1 || msgs[0].From != "a@example.com" || msgs[0].To[0] != "b@example.com" || !strings.Contains(string(msgs[0].Data), "hello") {
		t.Errorf("messages %+v", msgs)
	}
	p, err := msgs[0].Parse()
	if err != nil || p.Text != "hello\n" || p.Subject != "hi" {
		t.Errorf("Parse = %+v, %v", p, err)
	}
	if s.Attempts() != 4 {
		t.Errorf("Attempts = %d", s.Attempts())
	}
	if _, err := s.Wait(2, 10*time.Millisecond); err == nil {
		t.Error("Wait for a message that never comes succeeded")
	}
}

func TestServer_DropAndDelay(t *testing.T) {
	s := mailtest.Start(t)
	s.Script(mailtest.Behavior{Drop: true})
	if err := send(t, dial(t, s)); err == nil {
		t.Error("send over a dropped connection succeeded")
	}
	s.SetDefault(mailtest.Behavior{Delay: time.Hour})
	c := dial(t, s)
	errc := make(chan error, 1)
	go func() { errc <- send(t, c) }()
	if err := s.WaitAttempts(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s.Stop() // interrupts the delay and closes the connection
	<-errc
	if n := len(s.Messages()); n > 1 {
		t.Errorf("%d messages", n)
	}
}

func TestServer_StopRestart(t *testing.T) {
	s := mailtest.Start(t)
	addr := s.Addr()
	s.Stop()
	s.Stop() // idempotent
	if _, err := smtp.Dial(addr); err == nil {
		t.Fatal("dial to a stopped server succeeded")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Errorf("address changed to %s", s.Addr())
	}
	if err := send(t, dial(t, s)); err != nil {
		t.Fatalf("send after Restart: %v", err)
	}
	s.WaitFor(1, 5*time.Second)
}

func TestServer_AuthAndTLS(t *testing.T) {
	s := mailtest.Start(t, mailtest.WithAuth("u", "p"), mailtest.WithSTARTTLS())
	if !strings.HasPrefix(s.URL(), "smtp://u:p@127.0.0.1:") || s.CAFile() == "" {
		t.Errorf("URL %s CAFile %q", s.URL(), s.CAFile())
	}
	c := dial(t, s)
	if code := smtpCode(send(t, c)); code != 530 {
		t.Errorf("unauthenticated send: code %d, want 530", code)
	}
	c2, err := smtp.DialStartTLS(s.Addr(), &tls.Config{ServerName: "127.0.0.1", RootCAs: s.CertPool()})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c2.Close()
	if err := c2.Auth(sasl.NewPlainClient("", "u", "wrong")); smtpCode(err) != 535 {
		t.Errorf("wrong password: %v", err)
	}
	if err := c2.Auth(sasl.NewPlainClient("", "u", "p")); err != nil {
		t.Fatalf("auth: %v", err)
	}
	if err := send(t, c2); err != nil {
		t.Fatal(err)
	}
	m := s.WaitFor(1, 5*time.Second)[0]
	if !m.TLS || m.AuthUser != "u" {
		t.Errorf("TLS %v AuthUser %q", m.TLS, m.AuthUser)
	}

	imp := mailtest.Start(t, mailtest.WithImplicitTLS())
	if !strings.HasPrefix(imp.URL(), "smtps://") {
		t.Errorf("implicit TLS URL %s", imp.URL())
	}
	c3, err := smtp.DialTLS(imp.Addr(), &tls.Config{ServerName: "127.0.0.1", RootCAs: imp.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := send(t, c3); err != nil {
		t.Fatal(err)
	}
	if m := imp.WaitFor(1, 5*time.Second)[0]; !m.TLS {
		t.Error("implicit TLS message not marked TLS")
	}
}
