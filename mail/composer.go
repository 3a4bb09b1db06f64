package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/safereset/safereset"
)

// DefaultResetURL is the reset link used when ComposerConfig.ResetURL is empty.
const DefaultResetURL = "http://localhost:8080/reset?token={token}&email={email}"

// DefaultProduct is the product name used when ComposerConfig.Product is empty.
const DefaultProduct = "safereset"

// maxResetURL bounds the configured link template so a mail line stays sane.
const maxResetURL = 512

//go:embed templates/*
var defaultTemplates embed.FS

// The template file names a TemplateDir may hold.
const (
	tmplTokenText = "token.txt"
	tmplTokenHTML = "token.html"
	tmplConfText  = "confirmation.txt"
	tmplConfHTML  = "confirmation.html"
)

// ComposerConfig configures NewComposer.
type ComposerConfig struct {
	// ResetURL is the link put into token mails. "{token}" and "{email}" are
	// replaced by the token and the recipient address, each escaped with
	// url.QueryEscape. It must be an absolute http or https URL containing
	// "{token}". Default DefaultResetURL. The link is built only from this
	// value, never from anything a request carries.
	ResetURL string
	// TemplateDir optionally holds token.txt, token.html, confirmation.txt
	// and confirmation.html (text/template and html/template syntax). Each
	// file present replaces the embedded default of the same name; missing
	// files keep the default. Token templates see TokenData, confirmation
	// templates ConfirmationData.
	TemplateDir string
	// Product is the service name used in subjects and bodies. Default
	// DefaultProduct.
	Product string
	// LockURL is the "this wasn't me" link both mails carry when they are
	// given a lock token, with the same placeholders and checks as
	// ResetURL. Default: DeriveLockURL(ResetURL).
	LockURL string
	// LockDuration is how long the lock link locks resets, as the mails
	// state it. Default 24h.
	LockDuration time.Duration
	// Locale is the language of the mails, one of Languages. Default "en".
	// For each template the first found of these is used: NAME.LOCALE.EXT
	// in TemplateDir, NAME.EXT in TemplateDir, the embedded NAME.LOCALE.EXT,
	// the embedded NAME.EXT (English). So an operator's English-only
	// override applies to every language until a per-language file is added.
	Locale string
}

// Languages are the shipped mail languages; the first is the fallback.
var Languages = safereset.Locales()

// The subject templates (text/template, rendered to one line).
const (
	tmplTokenSubject = "token.subject.txt"
	tmplConfSubject  = "confirmation.subject.txt"
)

// TokenData is what the token templates (token.txt, token.html) see.
type TokenData struct {
	Product   string
	Email     string    // the recipient address
	Link      string    // ResetURL with token and email substituted
	Token     string    // the reset token itself
	ExpiresAt time.Time // when the token expires, in UTC
	Expires   string    // ExpiresAt formatted as "2006-01-02 15:04 UTC"
	// LockLink is the "this wasn't me" link (LockURL with the lock token
	// and email substituted); empty when the mail carries none.
	LockLink string
	// LockFor is how long the lock link locks resets, in the mail's
	// language ("24 hours").
	LockFor string
}

// ConfirmationData is what the confirmation templates (confirmation.txt,
// confirmation.html) see. It holds no secret.
type ConfirmationData struct {
	Product   string
	Email     string    // the recipient address
	ChangedAt time.Time // when the password was changed, in UTC
	Changed   string    // ChangedAt formatted as "2006-01-02 15:04 UTC"
	// LockLink and LockFor are as in TokenData. The lock link is the
	// mail's one secret: it locks resets of the account.
	LockLink string
	LockFor  string
}

// Composer renders token and confirmation mails from templates. It is safe
// for concurrent use.
type Composer struct {
	resetURL  string
	lockURL   string
	lockFor   string
	product   string
	tokenText *texttemplate.Template
	tokenHTML *htmltemplate.Template
	confText  *texttemplate.Template
	confHTML  *htmltemplate.Template
	tokenSubj *texttemplate.Template
	confSubj  *texttemplate.Template
}

var _ safereset.Composer = (*Composer)(nil)

// timeLayout formats expiry and change times in mails.
const timeLayout = "2006-01-02 15:04 UTC"

// NewComposer checks cfg, loads the templates and renders each once with
// sample data, so a broken template fails at start rather than when the
// first user asks for a reset.
func NewComposer(cfg ComposerConfig) (*Composer, error) {
	c := &Composer{resetURL: cfg.ResetURL, product: cfg.Product}
	if c.resetURL == "" {
		c.resetURL = DefaultResetURL
	}
	if c.product == "" {
		c.product = DefaultProduct
	}
	if err := checkResetURL(c.resetURL); err != nil {
		return nil, err
	}
	locale := cfg.Locale
	if locale == "" {
		locale = Languages[0]
	}
	if !slices.Contains(Languages, locale) {
		return nil, fmt.Errorf("mail: locale %q is not one of %v", locale, Languages)
	}
	if err := c.setLock(cfg, locale); err != nil {
		return nil, err
	}
	if strings.IndexFunc(c.product, unicode.IsControl) >= 0 || len(c.product) > 100 {
		return nil, errors.New("mail: product name must be at most 100 bytes without control characters")
	}

	var dir fs.FS
	if cfg.TemplateDir != "" {
		st, err := os.Stat(cfg.TemplateDir)
		if err != nil {
			return nil, fmt.Errorf("mail: template dir: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("mail: template dir %s is not a directory", cfg.TemplateDir)
		}
		dir = os.DirFS(cfg.TemplateDir)
	}
	load := func(name string) (string, string, error) {
		ext := filepath.Ext(name)
		localized := strings.TrimSuffix(name, ext) + "." + locale + ext
		if dir != nil {
			for _, n := range []string{localized, name} {
				b, err := fs.ReadFile(dir, n)
				if err == nil {
					return string(b), filepath.Join(cfg.TemplateDir, n), nil
				}
				if !errors.Is(err, fs.ErrNotExist) {
					return "", "", fmt.Errorf("mail: template %s: %w", filepath.Join(cfg.TemplateDir, n), err)
				}
			}
		}
		for _, n := range []string{localized, name} {
			if b, err := defaultTemplates.ReadFile("templates/" + n); err == nil {
				return string(b), "embedded " + n, nil
			}
		}
		return "", "", fmt.Errorf("mail: embedded template %s missing", name)
	}
	parseText := func(name string) (*texttemplate.Template, string, error) {
		src, where, err := load(name)
		if err != nil {
			return nil, "", err
		}
		t, err := texttemplate.New(name).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, "", fmt.Errorf("mail: template %s: %w", where, err)
		}
		return t, where, nil
	}
	parseHTML := func(name string) (*htmltemplate.Template, string, error) {
		src, where, err := load(name)
		if err != nil {
			return nil, "", err
		}
		t, err := htmltemplate.New(name).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, "", fmt.Errorf("mail: template %s: %w", where, err)
		}
		return t, where, nil
	}

	var where [4]string
	var err error
	if c.tokenText, where[0], err = parseText(tmplTokenText); err != nil {
		return nil, err
	}
	if c.tokenHTML, where[1], err = parseHTML(tmplTokenHTML); err != nil {
		return nil, err
	}
	if c.confText, where[2], err = parseText(tmplConfText); err != nil {
		return nil, err
	}
	if c.confHTML, where[3], err = parseHTML(tmplConfHTML); err != nil {
		return nil, err
	}
	if c.tokenSubj, _, err = parseText(tmplTokenSubject); err != nil {
		return nil, err
	}
	if c.confSubj, _, err = parseText(tmplConfSubject); err != nil {
		return nil, err
	}

	// Render once with sample data: catches unknown fields and templates
	// that would send a token mail without any way to use the token.
	const sampleToken = "0123456789abcdef0123456789abcdef"
	sampleAt := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	m, err := c.TokenMail("sample@example.com", sampleToken, sampleAt)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(m.Text, sampleToken) {
		return nil, fmt.Errorf("mail: template %s: neither {{.Link}} nor {{.Token}} is used, the mail would be useless", where[0])
	}
	if !strings.Contains(m.HTML, sampleToken) {
		return nil, fmt.Errorf("mail: template %s: neither {{.Link}} nor {{.Token}} is used, the mail would be useless", where[1])
	}
	if _, err := c.ConfirmationMail("sample@example.com", sampleAt); err != nil {
		return nil, err
	}
	if err := c.checkLockSample(sampleToken, sampleAt); err != nil {
		return nil, err
	}
	return c, nil
}

// checkResetURL refuses link templates that would produce a broken or
// dangerous link.
func checkResetURL(tmpl string) error { return checkLinkURL("reset url", tmpl) }

// checkLinkURL is checkResetURL for the link called name.
func checkLinkURL(name, tmpl string) error {
	if len(tmpl) > maxResetURL {
		return fmt.Errorf("mail: %s: longer than %d bytes", name, maxResetURL)
	}
	if !strings.Contains(tmpl, "{token}") {
		return fmt.Errorf("mail: %s: must contain {token}", name)
	}
	if strings.IndexFunc(tmpl, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("mail: %s: must not contain spaces or control characters", name)
	}
	u, err := url.Parse(fillResetURL(tmpl, "token", "user@example.com"))
	if err != nil {
		return fmt.Errorf("mail: %s: not a valid URL", name)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("mail: %s: must be an absolute http:// or https:// URL", name)
	}
	return nil
}

func fillResetURL(tmpl, token, email string) string {
	return strings.NewReplacer(
		"{token}", url.QueryEscape(token),
		"{email}", url.QueryEscape(email),
	).Replace(tmpl)
}

// TokenMail renders the mail carrying a reset token for the account at to.
// The token appears only in the body (text and HTML), never in the subject.
func (c *Composer) TokenMail(to, token string, expiresAt time.Time) (safereset.Message, error) {
	return c.TokenMailWithLock(to, token, "", expiresAt)
}

// TokenMailWithLock is TokenMail whose mail also carries the "this wasn't
// me" link for lockToken (none when lockToken is empty).
func (c *Composer) TokenMailWithLock(to, token, lockToken string, expiresAt time.Time) (safereset.Message, error) {
	d := TokenData{
		Product:   c.product,
		Email:     to,
		Link:      fillResetURL(c.resetURL, token, to),
		Token:     token,
		ExpiresAt: expiresAt.UTC(),
		Expires:   expiresAt.UTC().Format(timeLayout),
		LockLink:  c.lockLink(lockToken, to),
		LockFor:   c.lockFor,
	}
	subject, err := renderSubject(c.tokenSubj, d)
	if err != nil {
		return safereset.Message{}, err
	}
	var text, html bytes.Buffer
	if err := c.tokenText.Execute(&text, d); err != nil {
		return safereset.Message{}, fmt.Errorf("mail: render %s: %w", tmplTokenText, err)
	}
	if err := c.tokenHTML.Execute(&html, d); err != nil {
		return safereset.Message{}, fmt.Errorf("mail: render %s: %w", tmplTokenHTML, err)
	}
	return safereset.Message{
		Kind:    safereset.MailToken,
		To:      to,
		Subject: subject,
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

// ConfirmationMail renders the mail telling the account at to that its
// password was changed at changedAt. It carries no secret.
func (c *Composer) ConfirmationMail(to string, changedAt time.Time) (safereset.Message, error) {
	return c.ConfirmationMailWithLock(to, "", changedAt)
}

// ConfirmationMailWithLock is ConfirmationMail whose mail also carries the
// "this wasn't me" link for lockToken (none when lockToken is empty).
func (c *Composer) ConfirmationMailWithLock(to, lockToken string, changedAt time.Time) (safereset.Message, error) {
	d := ConfirmationData{
		Product:   c.product,
		Email:     to,
		ChangedAt: changedAt.UTC(),
		Changed:   changedAt.UTC().Format(timeLayout),
		LockLink:  c.lockLink(lockToken, to),
		LockFor:   c.lockFor,
	}
	subject, err := renderSubject(c.confSubj, d)
	if err != nil {
		return safereset.Message{}, err
	}
	var text, html bytes.Buffer
	if err := c.confText.Execute(&text, d); err != nil {
		return safereset.Message{}, fmt.Errorf("mail: render %s: %w", tmplConfText, err)
	}
	if err := c.confHTML.Execute(&html, d); err != nil {
		return safereset.Message{}, fmt.Errorf("mail: render %s: %w", tmplConfHTML, err)
	}
	return safereset.Message{
		Kind:    safereset.MailConfirmation,
		To:      to,
		Subject: subject,
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

// maxSubject bounds a rendered subject; a header line stays sane.
const maxSubject = 200

// renderSubject renders a subject template to one trimmed line. A line
// break would end the header, so a template producing one is refused.
func renderSubject(t *texttemplate.Template, data any) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("mail: render %s: %w", t.Name(), err)
	}
	subj := strings.TrimSpace(b.String())
	if subj == "" || len(subj) > maxSubject || strings.IndexFunc(subj, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("mail: template %s: the subject must be one line of 1 to %d bytes", t.Name(), maxSubject)
	}
	return subj, nil
}

// Localized holds one Composer per shipped language.
type Localized struct {
	byLocale map[string]*Composer
	fallback *Composer
}

// NewLocalized builds a Composer for each of Languages from cfg; mails in
// a locale that is not shipped use defaultLocale.
func NewLocalized(cfg ComposerConfig, defaultLocale string) (*Localized, error) {
	l := &Localized{byLocale: make(map[string]*Composer, len(Languages))}
	for _, lang := range Languages {
		cfg.Locale = lang
		c, err := NewComposer(cfg)
		if err != nil {
			return nil, err
		}
		l.byLocale[lang] = c
	}
	l.fallback = l.byLocale[defaultLocale]
	if l.fallback == nil {
		return nil, fmt.Errorf("mail: default locale %q is not one of %v", defaultLocale, Languages)
	}
	return l, nil
}

// For returns the Composer of locale, or the default locale's.
func (l *Localized) For(locale string) safereset.Composer {
	if c, ok := l.byLocale[locale]; ok {
		return c
	}
	return l.fallback
}
