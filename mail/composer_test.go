package mail_test

import (
	"html"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/mail"
)

const testToken = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"

var testExpiry = time.Date(2026, 11, 27, 13, 45, 0, 0, time.UTC)

func mustComposer(t *testing.T, cfg mail.ComposerConfig) *mail.Composer {
	t.Helper()
	c, err := mail.NewComposer(cfg)
	if err != nil {
		t.Fatalf("NewComposer: %v", err)
	}
	return c
}

var hrefRE = regexp.MustCompile(`href="([^"]*)"`)

func TestComposer_TokenMailLink(t *testing.T) {
	c := mustComposer(t, mail.ComposerConfig{ResetURL: "https://app.example.com/reset?t={token}&e={email}"})
	tests := []struct {
		name, to, wantEmail string
	}{
		{"Plain", "alice@example.com", "alice%40example.com"},
		{"Plus", "bob+tag@example.com", "bob%2Btag%40example.com"},
		{"Unicode", "jürgen@exämple.org", "j%C3%BCrgen%40ex%C3%A4mple.org"},
		{"Ampersand", "a&b=c@example.com", "a%26b%3Dc%40example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := c.TokenMail(tt.to, testToken, testExpiry)
			if err != nil {
				t.Fatal(err)
			}
			wantLink := "https://app.example.com/reset?t=" + testToken + "&e=" + tt.wantEmail
			if !strings.Contains(m.Text, wantLink+"\n") {
				t.Errorf("text lacks link %q:\n%s", wantLink, m.Text)
			}
			hrefs := hrefRE.FindStringSubmatch(m.HTML)
			if hrefs == nil {
				t.Fatalf("html has no href:\n%s", m.HTML)
			}
			if got := html.UnescapeString(hrefs[1]); got != wantLink {
				t.Errorf("html href = %q, want %q", got, wantLink)
			}
			u, err := url.Parse(wantLink)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Query().Get("e"); got != tt.to {
				t.Errorf("link decodes email to %q, want %q", got, tt.to)
			}
			if got := u.Query().Get("t"); got != testToken {
				t.Errorf("link decodes token to %q", got)
			}
			if m.To != tt.to || m.Kind != safereset.MailToken {
				t.Errorf("To/Kind = %q/%q", m.To, m.Kind)
			}
			if strings.Contains(m.Subject, testToken) {
				t.Errorf("token in subject %q", m.Subject)
			}
			if !strings.Contains(m.Text, "2026-11-27 13:45 UTC") || !strings.Contains(m.HTML, "2026-11-27 13:45 UTC") {
				t.Errorf("expiry missing from body")
			}
		})
	}
}

func TestComposer_Defaults(t *testing.T) {
	c := mustComposer(t, mail.ComposerConfig{})
	m, err := c.TokenMail("a@example.com", testToken, testExpiry)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "http://localhost:8080/reset?token="+testToken+"&email=a%40example.com") {
		t.Errorf("default link missing:\n%s", m.Text)
	}
	if m.Subject != "Reset your safereset password" {
		t.Errorf("subject %q", m.Subject)
	}
}

func TestComposer_HTMLEscaping(t *testing.T) {
	c := mustComposer(t, mail.ComposerConfig{Product: `Acme <b>"Co"</b> & Sons`})
	m, err := c.TokenMail(`o'neil<script>@example.com`, testToken, testExpiry)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<b>", "<script>", `"Co"`} {
		if strings.Contains(m.HTML, bad) {
			t.Errorf("html contains unescaped %q", bad)
		}
	}
	if !strings.Contains(m.HTML, "Acme &lt;b&gt;&#34;Co&#34;&lt;/b&gt; &amp; Sons") {
		t.Errorf("product not escaped as expected:\n%s", m.HTML)
	}
	// The text part is plain text: no escaping.
	if !strings.Contains(m.Text, `Acme <b>"Co"</b> & Sons`) {
		t.Errorf("text part altered the product name:\n%s", m.Text)
	}
}

func TestComposer_ConfirmationMail(t *testing.T) {
	c := mustComposer(t, mail.ComposerConfig{ResetURL: "https://x.example/r/{token}"})
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	m, err := c.ConfirmationMail("alice@example.com", at)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != safereset.MailConfirmation || m.Subject != "Your safereset password was changed" {
		t.Errorf("Kind/Subject = %q/%q", m.Kind, m.Subject)
	}
	for _, body := range []string{m.Text, m.HTML} {
		if !strings.Contains(body, "2026-11-27 11:00 UTC") {
			t.Errorf("change time missing:\n%s", body)
		}
		if !strings.Contains(body, "did not change it") && !strings.Contains(body, "did NOT change it") {
			t.Errorf("no advice for when it was not the user:\n%s", body)
		}
		if strings.Contains(body, "x.example") || strings.Contains(body, "token") {
			t.Errorf("confirmation carries a link or token:\n%s", body)
		}
	}
}

func TestComposer_TemplateDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("token.txt", "Custom {{.Product}}: {{.Link}} until {{.ExpiresAt.Format \"15:04\"}}\n")
	write("confirmation.html", "<p>Changed {{.Changed}} for {{.Email}}</p>")
	c := mustComposer(t, mail.ComposerConfig{TemplateDir: dir, Product: "Acme", ResetURL: "https://a.example/{token}"})

	m, err := c.TokenMail("u@example.com", testToken, testExpiry)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Custom Acme: https://a.example/" + testToken + " until 13:45\n"; m.Text != want {
		t.Errorf("text = %q, want %q", m.Text, want)
	}
	if !strings.Contains(m.HTML, "Choose a new password") {
		t.Errorf("token.html should stay the embedded default:\n%s", m.HTML)
	}
	cm, err := c.ConfirmationMail("u<x>@example.com", testExpiry)
	if err != nil {
		t.Fatal(err)
	}
	if cm.HTML != "<p>Changed 2026-11-27 13:45 UTC for u&lt;x&gt;@example.com</p>" {
		t.Errorf("confirmation html = %q", cm.HTML)
	}
}

func TestNewComposer_Errors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		cfg     mail.ComposerConfig
		wantErr string
	}{
		{name: "Syntax", files: map[string]string{"token.txt": "{{.Link"}, wantErr: "token.txt"},
		{name: "UnknownField", files: map[string]string{"confirmation.txt": "{{.Token}}"}, wantErr: "confirmation.txt"},
		{name: "HTMLSyntax", files: map[string]string{"token.html": "<a href=\"{{.Link}\">"}, wantErr: "token.html"},
		{name: "NoTokenOrLink", files: map[string]string{"token.txt": "hello {{.Email}}"}, wantErr: "neither"},
		{name: "URLWithoutToken", cfg: mail.ComposerConfig{ResetURL: "https://a.example/reset?email={email}"}, wantErr: "{token}"},
		{name: "URLNotHTTP", cfg: mail.ComposerConfig{ResetURL: "javascript:alert({token})"}, wantErr: "http"},
		{name: "URLRelative", cfg: mail.ComposerConfig{ResetURL: "/reset?token={token}"}, wantErr: "absolute"},
		{name: "URLSpace", cfg: mail.ComposerConfig{ResetURL: "https://a.example/ {token}"}, wantErr: "spaces"},
		{name: "MissingDir", cfg: mail.ComposerConfig{TemplateDir: "/nonexistent/safereset-templates"}, wantErr: "template dir"},
		{name: "ProductNewline", cfg: mail.ComposerConfig{Product: "a\r\nBcc: x@example.com"}, wantErr: "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if tt.files != nil {
				cfg.TemplateDir = t.TempDir()
				for name, s := range tt.files {
					if err := os.WriteFile(filepath.Join(cfg.TemplateDir, name), []byte(s), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			_, err := mail.NewComposer(cfg)
			if err == nil {
				t.Fatal("NewComposer succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}
