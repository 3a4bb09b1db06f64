package mail_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/mail/mailtest"
)

func TestDirSender_WritesParseableEML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	s, err := mail.NewDirSender(dir, mail.WithFrom("Safereset <noreply@example.org>"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", st.Mode().Perm())
	}
	c := mustComposer(t, mail.ComposerConfig{ResetURL: "https://app.example.com/a/very/long/path/to/make/the/line/longer/than/seventy-six/characters/reset?token={token}&email={email}"})
	for _, to := range []string{"bob+tag@example.com", "jürgen@exämple.org"} {
		m, err := c.TokenMail(to, testToken, testExpiry)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("Send(%s): %v", to, err)
		}
	}

	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("dir holds %v, want 2 .eml files and nothing else", files)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, ".eml") {
			t.Errorf("unexpected file %s", f)
		}
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := mailtest.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v\n%s", f, err, raw)
		}
		if p.ContentType != "multipart/alternative" {
			t.Errorf("content type %q", p.ContentType)
		}
		if !strings.Contains(p.Text, testToken) || !strings.Contains(p.HTML, testToken) {
			t.Errorf("token missing from a part")
		}
		// The token is visible in the raw file, not only after decoding.
		if !strings.Contains(string(raw), "token="+testToken+"&email=") {
			t.Errorf("raw file does not show the link verbatim:\n%s", raw)
		}
		head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
		if strings.Contains(head, testToken) {
			t.Errorf("token in headers:\n%s", head)
		}
		if p.Header.Get("From") != `"Safereset" <noreply@example.org>` {
			t.Errorf("From = %q", p.Header.Get("From"))
		}
		if id := p.Header.Get("Message-Id"); !strings.HasSuffix(id, "@example.org>") {
			t.Errorf("Message-ID = %q", id)
		}
		if _, err := p.Header.Date(); err != nil {
			t.Errorf("Date: %v", err)
		}
		if p.Subject != "Reset your safereset password" {
			t.Errorf("Subject = %q", p.Subject)
		}
		if _, err := p.Header.AddressList("To"); err != nil {
			t.Errorf("To %q: %v", p.Header.Get("To"), err)
		}
	}
}

func TestDirSender_ConcurrentUniqueNames(t *testing.T) {
	dir := t.TempDir()
	fixed := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := mail.NewDirSender(dir, mail.WithClock(func() time.Time { return fixed }))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Send(context.Background(), safereset.Message{Kind: safereset.MailConfirmation, To: "a@example.com", Subject: "s", Text: "t"})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != n {
		t.Errorf("%d files, want %d", len(files), n)
	}
}

func TestDirSender_Errors(t *testing.T) {
	s, err := mail.NewDirSender(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		msg       safereset.Message
		permanent bool
	}{
		{"HeaderInjection", safereset.Message{To: "a@example.com\r\nBcc: evil@example.com", Text: "x"}, true},
		{"DisplayName", safereset.Message{To: "Eve <a@example.com>", Text: "x"}, true},
		{"NoText", safereset.Message{To: "a@example.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Send(context.Background(), tt.msg)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, safereset.ErrMailPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			if strings.Contains(err.Error(), "example.com") {
				t.Errorf("error echoes the address: %v", err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, safereset.Message{To: "a@example.com", Text: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ctx: %v", err)
	}
	if _, err := mail.NewDirSender(""); err == nil {
		t.Error("empty dir accepted")
	}
	if _, err := mail.NewDirSender(t.TempDir(), mail.WithFrom("not an address")); err == nil {
		t.Error("bad from accepted")
	}
}

func TestMaskEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"victor@example.com", "v***@example.com"},
		{"Ü@exämple.org", "Ü***@exämple.org"},
		{"a@b.c", "a***@b.c"},
		{"no-at-sign", "***"},
		{"@example.com", "***"},
		{"\nx@example.com", "?***@example.com"},
	}
	for _, tt := range tests {
		if got := mail.MaskEmail(tt.in); got != tt.want {
			t.Errorf("MaskEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
