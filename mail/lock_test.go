package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset/mail"
)

const lockToken = "fedcba9876543210fedcba9876543210"

// TestLock_BothMailsCarryTheLink: in every shipped language both mails
// carry the lock link in the text and the HTML part, say for how long it
// locks, and carry no trace of it when given no lock token.
func TestLock_BothMailsCarryTheLink(t *testing.T) {
	l, err := mail.NewLocalized(mail.ComposerConfig{Product: "Acme", LockDuration: 24 * time.Hour}, "en")
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123456789abcdef"
	at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	wantLink := "http://localhost:8080/reset/not-me?token=" + lockToken + "&email=ana%40example.com"
	htmlLink := "http://localhost:8080/reset/not-me?token=" + lockToken + "&amp;email=ana%40example.com"
	for _, tc := range []struct{ lang, tokenWords, confWords, hours string }{
		{"en", "Worried that someone else asked?", "If you cannot trust your mailbox right now", "24 hours"},
		{"nl", "Bang dat iemand anders dit heeft aangevraagd?", "Vertrouw je je mailbox op dit moment niet?", "24 uur"},
		{"de", "Befürchten Sie, dass jemand anderes das angefordert hat?", "Wenn Sie Ihrem Postfach gerade nicht trauen", "24 Stunden"},
		{"fr", "Vous craignez que quelqu’un d’autre ait fait cette demande ?", "Si vous ne pouvez pas vous fier à votre boîte mail", "24 heures"},
		{"es", "¿Temes que haya sido otra persona?", "Si ahora mismo no te fías de tu buzón", "24 horas"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			c := l.For(tc.lang)
			m, err := c.TokenMailWithLock("ana@example.com", token, lockToken, at)
			if err != nil {
				t.Fatal(err)
			}
			for part, body := range map[string]string{"text": m.Text, "html": m.HTML} {
				link := wantLink
				if part == "html" {
					link = htmlLink
				}
				if !strings.Contains(body, link) || !strings.Contains(body, tc.hours) || !strings.Contains(body, token) {
					t.Errorf("token mail %s part lacks the lock link %q, %q or the token:\n%s", part, link, tc.hours, body)
				}
			}
			if !strings.Contains(strings.Join(strings.Fields(m.Text), " "), tc.tokenWords) {
				t.Errorf("token mail text lacks %q:\n%s", tc.tokenWords, m.Text)
			}
			if strings.Contains(m.Subject, lockToken) {
				t.Errorf("lock token in the subject %q", m.Subject)
			}
			cm, err := c.ConfirmationMailWithLock("ana@example.com", lockToken, at)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(cm.Text, wantLink) || !strings.Contains(cm.HTML, htmlLink) || !strings.Contains(cm.Text, tc.hours) {
				t.Errorf("confirmation mail lacks the lock link:\n%s\n%s", cm.Text, cm.HTML)
			}
			if !strings.Contains(strings.Join(strings.Fields(cm.Text), " "), tc.confWords) {
				t.Errorf("confirmation mail text lacks %q:\n%s", tc.confWords, cm.Text)
			}

			// Without a lock token: the mails as they were, no lock words.
			plain, err := c.TokenMail("ana@example.com", token, at)
			if err != nil {
				t.Fatal(err)
			}
			plainConf, err := c.ConfirmationMail("ana@example.com", at)
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range []string{plain.Text, plain.HTML, plainConf.Text, plainConf.HTML} {
				if strings.Contains(body, "not-me") || strings.Contains(body, tc.hours) {
					t.Errorf("mail without a lock token mentions the lock:\n%s", body)
				}
			}
			if !strings.HasSuffix(strings.TrimRight(plain.Text, "\n"), "-- \nAcme") || strings.Contains(plain.Text, "\n\n\n") {
				t.Errorf("mail without a lock token is not laid out as before:\n%q", plain.Text)
			}
		})
	}
}

func TestDeriveLockURL(t *testing.T) {
	for _, tc := range []struct{ reset, want string }{
		{mail.DefaultResetURL, mail.DefaultLockURL},
		{"https://id.example.com/reset?token={token}&email={email}", "https://id.example.com/reset/not-me?token={token}&email={email}"},
		{"https://example.com/auth/reset/?email={email}&token={token}", "https://example.com/auth/reset/not-me?token={token}&email={email}"},
		{"https://example.com:8443/account/password?t={token}", "https://example.com:8443/reset/not-me?token={token}&email={email}"},
		{"https://example.com/#/reset/{token}", "https://example.com/reset/not-me?token={token}&email={email}"},
	} {
		if got := mail.DeriveLockURL(tc.reset); got != tc.want {
			t.Errorf("DeriveLockURL(%q) = %q, want %q", tc.reset, got, tc.want)
		}
	}
}

func TestLock_URLAndDuration(t *testing.T) {
	c, err := mail.NewComposer(mail.ComposerConfig{
		ResetURL:     "https://id.example.com/reset?token={token}",
		LockURL:      "https://lock.example.com/stop?k={token}",
		LockDuration: 90 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.TokenMailWithLock("a@example.com", "0123456789abcdef0123456789abcdef", lockToken, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "https://lock.example.com/stop?k="+lockToken) || !strings.Contains(m.Text, "90 minutes") {
		t.Errorf("configured lock url or duration not used:\n%s", m.Text)
	}
	// The reset link's checks apply to the lock link too.
	for _, bad := range []string{"https://example.com/not-me", "/reset/not-me?token={token}", "ftp://example.com/{token}",
		"https://example.com/{token} x", "https://example.com/" + strings.Repeat("a", 600) + "{token}"} {
		if _, err := mail.NewComposer(mail.ComposerConfig{LockURL: bad}); err == nil || !strings.Contains(err.Error(), "lock url") {
			t.Errorf("lock url %q: err %v, want a lock url error", bad, err)
		}
	}
	if _, err := mail.NewComposer(mail.ComposerConfig{LockDuration: time.Second}); err == nil {
		t.Error("a lock duration under a minute was accepted")
	}
	for _, tc := range []struct {
		lang string
		d    time.Duration
		want string
	}{
		{"en", time.Hour, "1 hour"}, {"en", 48 * time.Hour, "48 hours"}, {"nl", 30 * time.Minute, "30 minuten"},
		{"de", time.Minute, "1 Minute"}, {"fr", 2 * time.Hour, "2 heures"}, {"es", 24 * time.Hour, "24 horas"}, {"pt", time.Hour, "1 hour"},
	} {
		if got := mail.FormatDuration(tc.lang, tc.d); got != tc.want {
			t.Errorf("FormatDuration(%s, %v) = %q, want %q", tc.lang, tc.d, got, tc.want)
		}
	}
}

// TestLock_Overrides: an operator's template may use LockLink, and one
// that breaks only when the link is there fails at start.
func TestLock_Overrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("token.nl.txt", "Reset: {{.Link}}\n{{with .LockLink}}Blokkeer ({{$.LockFor}}): {{.}}{{end}}\n")
	write("confirmation.txt", "Changed. {{if .LockLink}}Lock: {{.LockLink}}{{end}}\n")
	l, err := mail.NewLocalized(mail.ComposerConfig{TemplateDir: dir}, "en")
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.For("nl").TokenMailWithLock("a@example.com", "0123456789abcdef0123456789abcdef", lockToken, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "Blokkeer (24 uur): http://localhost:8080/reset/not-me?token="+lockToken) {
		t.Errorf("override did not get LockLink:\n%s", m.Text)
	}
	cm, err := l.For("de").ConfirmationMailWithLock("a@example.com", lockToken, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Text, "Lock: http://localhost:8080/reset/not-me?token="+lockToken) {
		t.Errorf("confirmation override did not get LockLink:\n%s", cm.Text)
	}

	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "confirmation.txt"), []byte("{{with .LockLink}}{{.Nope}}{{end}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := mail.NewComposer(mail.ComposerConfig{TemplateDir: broken}); err == nil {
		t.Error("a template failing only with a lock link was accepted")
	}
}

// BenchmarkComposer_TokenMailWithLock is BenchmarkComposer_TokenMail with
// the lock link: what each token request adds to the mail it renders.
func BenchmarkComposer_TokenMailWithLock(b *testing.B) {
	c, err := mail.NewComposer(mail.ComposerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.TokenMailWithLock("bob+tag@example.com", "0123456789abcdef0123456789abcdef", lockToken, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
