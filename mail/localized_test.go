package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset/mail"
)

// TestLocalized_Languages: every shipped language renders both mails in
// its own words, with the token, the link and a one-line subject.
func TestLocalized_Languages(t *testing.T) {
	l, err := mail.NewLocalized(mail.ComposerConfig{Product: "Acme"}, "de")
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123456789abcdef"
	at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	for _, tc := range []struct{ lang, tokenSubj, tokenBody, confSubj, confBody string }{
		{"en", "Reset your Acme password", "someone asked to reset the Acme password", "Your Acme password was changed", "was changed at 2026-03-04 05:06 UTC"},
		{"nl", "Je Acme-wachtwoord opnieuw instellen", "iemand heeft gevraagd het Acme-wachtwoord", "Je Acme-wachtwoord is gewijzigd", "is gewijzigd op 2026-03-04 05:06 UTC"},
		{"de", "Ihr Acme-Passwort zurücksetzen", "das Acme-Passwort für", "Ihr Acme-Passwort wurde geändert", "wurde am 2026-03-04 05:06 UTC geändert"},
		{"fr", "Réinitialisez votre mot de passe Acme", "la réinitialisation du mot de passe Acme", "Votre mot de passe Acme a été modifié", "a été modifié le 2026-03-04 05:06 UTC"},
		{"es", "Restablece tu contraseña de Acme", "alguien ha pedido restablecer la contraseña de Acme", "Tu contraseña de Acme ha cambiado", "se cambió el 2026-03-04 05:06 UTC"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			c := l.For(tc.lang)
			m, err := c.TokenMail("ana@example.com", token, at)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject != tc.tokenSubj || !strings.Contains(m.Text, tc.tokenBody) || !strings.Contains(m.Text, token) ||
				!strings.Contains(m.HTML, token) || !strings.Contains(m.HTML, "ana@example.com") || !strings.Contains(m.Text, "/reset?token="+token) {
				t.Errorf("token mail:\nsubject %q\n%s\n%s", m.Subject, m.Text, m.HTML)
			}
			if tc.lang != "en" && !strings.Contains(m.HTML, `lang="`+tc.lang+`"`) {
				t.Errorf("HTML part not marked %s", tc.lang)
			}
			cm, err := c.ConfirmationMail("ana@example.com", at)
			if err != nil {
				t.Fatal(err)
			}
			if cm.Subject != tc.confSubj || !strings.Contains(cm.Text, tc.confBody) || strings.Contains(cm.Text, token) {
				t.Errorf("confirmation mail:\nsubject %q\n%s", cm.Subject, cm.Text)
			}
		})
	}
	// An unknown or empty locale gets the default language.
	for _, loc := range []string{"", "pt", "NL"} {
		if m, _ := l.For(loc).TokenMail("a@example.com", token, at); m.Subject != "Ihr Acme-Passwort zurücksetzen" {
			t.Errorf("locale %q: subject %q, want the default (de)", loc, m.Subject)
		}
	}
	if _, err := mail.NewLocalized(mail.ComposerConfig{}, "pt"); err == nil {
		t.Error("an unshipped default locale was accepted")
	}
}

// TestLocalized_Overrides: an operator's NAME.LOCALE.EXT wins for its
// language, NAME.EXT for the others, and subjects are templates too.
func TestLocalized_Overrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("token.txt", "Generic {{.Product}}: {{.Link}}\n")
	write("token.nl.txt", "Nederlands {{.Product}}: {{.Link}}\n")
	write("token.subject.nl.txt", "Herstel bij {{.Product}}\n")
	write("confirmation.subject.txt", "Changed at {{.Product}}\n")
	l, err := mail.NewLocalized(mail.ComposerConfig{TemplateDir: dir, Product: "Acme"}, "en")
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123456789abcdef"
	nl, _ := l.For("nl").TokenMail("a@example.com", token, time.Now())
	fr, _ := l.For("fr").TokenMail("a@example.com", token, time.Now())
	if !strings.HasPrefix(nl.Text, "Nederlands Acme:") || nl.Subject != "Herstel bij Acme" {
		t.Errorf("nl override: %q %q", nl.Subject, nl.Text)
	}
	if !strings.HasPrefix(fr.Text, "Generic Acme:") || fr.Subject != "Réinitialisez votre mot de passe Acme" {
		t.Errorf("fr: generic body and the built-in French subject expected: %q %q", fr.Subject, fr.Text)
	}
	if !strings.Contains(fr.HTML, "Choisir un nouveau mot de passe") {
		t.Error("fr HTML part: the built-in French template expected")
	}
	for _, lang := range []string{"en", "es"} {
		if cm, _ := l.For(lang).ConfirmationMail("a@example.com", time.Now()); cm.Subject != "Changed at Acme" {
			t.Errorf("%s confirmation subject %q", lang, cm.Subject)
		}
	}

	// A subject template that breaks the header line is refused at start.
	write("token.subject.txt", "Line one\nBcc: x@example.com\n")
	if _, err := mail.NewLocalized(mail.ComposerConfig{TemplateDir: dir}, "en"); err == nil || !strings.Contains(err.Error(), "subject") {
		t.Errorf("multi-line subject: %v", err)
	}
}
