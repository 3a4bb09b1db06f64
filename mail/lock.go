package mail

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultLockURL is the "this wasn't me" link DeriveLockURL gives for
// DefaultResetURL.
const DefaultLockURL = "http://localhost:8080/reset/not-me?token={token}&email={email}"

// DefaultLockDuration is the lock the mails promise when
// ComposerConfig.LockDuration is zero.
const DefaultLockDuration = 24 * time.Hour

// DeriveLockURL returns the lock link for a reset link: the same scheme
// and host, the path of the reset page with "/not-me" appended when the
// reset link's path ends in "/reset" (so a path prefix behind a proxy is
// kept), else "/reset/not-me", and the query
// "token={token}&email={email}". A reset link that cannot be parsed gives
// DefaultLockURL; checkLinkURL then refuses the reset link itself.
func DeriveLockURL(resetURL string) string {
	u, err := url.Parse(fillResetURL(resetURL, "token", "user@example.com"))
	if err != nil || u.Host == "" || strings.Contains(u.Host, "{") {
		return DefaultLockURL
	}
	path := "/reset/not-me"
	if p := strings.TrimSuffix(u.EscapedPath(), "/"); strings.HasSuffix(p, "/reset") {
		path = p + "/not-me"
	}
	return u.Scheme + "://" + u.Host + path + "?token={token}&email={email}"
}

// setLock checks and sets the lock link and the duration the mails state.
func (c *Composer) setLock(cfg ComposerConfig, locale string) error {
	c.lockURL = cfg.LockURL
	if c.lockURL == "" {
		c.lockURL = DeriveLockURL(c.resetURL)
	}
	if err := checkLinkURL("lock url", c.lockURL); err != nil {
		return err
	}
	d := cfg.LockDuration
	if d == 0 {
		d = DefaultLockDuration
	}
	if d < time.Minute {
		return fmt.Errorf("mail: lock duration %v is shorter than a minute", d)
	}
	c.lockFor = FormatDuration(locale, d)
	return nil
}

// lockLink is the lock link for lockToken and to, empty without a token.
func (c *Composer) lockLink(lockToken, to string) string {
	if lockToken == "" {
		return ""
	}
	return fillResetURL(c.lockURL, lockToken, to)
}

// checkLockSample renders both mails with a sample lock token, so a
// template that breaks only when the lock link is there fails at start.
func (c *Composer) checkLockSample(token string, at time.Time) error {
	const sampleLock = "fedcba9876543210fedcba9876543210"
	if _, err := c.TokenMailWithLock("sample@example.com", token, sampleLock, at); err != nil {
		return err
	}
	_, err := c.ConfirmationMailWithLock("sample@example.com", sampleLock, at)
	return err
}

// durationUnits are the words for hours and minutes, singular and plural.
var durationUnits = map[string][4]string{
	"en": {"hour", "hours", "minute", "minutes"},
	"nl": {"uur", "uur", "minuut", "minuten"},
	"de": {"Stunde", "Stunden", "Minute", "Minuten"},
	"fr": {"heure", "heures", "minute", "minutes"},
	"es": {"hora", "horas", "minuto", "minutos"},
}

// FormatDuration writes d in lang as whole hours ("24 hours") when it is
// a whole number of hours, else as whole minutes ("90 minutes").
func FormatDuration(lang string, d time.Duration) string {
	w, ok := durationUnits[lang]
	if !ok {
		w = durationUnits["en"]
	}
	n, one, many := int64(d/time.Minute), w[2], w[3]
	if d%time.Hour == 0 {
		n, one, many = int64(d/time.Hour), w[0], w[1]
	}
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// CheckLockURL reports what is wrong with a lock link template, by the
// rules of the reset link (checked again by NewComposer).
func CheckLockURL(tmpl string) error { return checkLinkURL("lock url", tmpl) }
