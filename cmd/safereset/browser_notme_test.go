package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowser_LockLink drives "this wasn't me" in a real browser, in two
// languages: the lock link from a real token mail, the token dropped from
// the address bar, Tab reaching the one button, axe-core, the button
// pressed and the done page shown; then the reset link from the same mail
// is refused. Screenshots as TestBrowser_ResetPage takes them.
func TestBrowser_LockLink(t *testing.T) {
	chromium, axe := needBrowser(t)
	shots := screenshotDir(t)
	s := startServer(t, "")
	key := s.apiKey("browser-lock")

	for _, tc := range []struct{ lang, button, done string }{
		{"en", "Lock password resets", "Password resets for your account are locked until "},
		{"fr", "Bloquer les réinitialisations", "La réinitialisation du mot de passe de votre compte est bloquée jusqu’au "},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			addr := "browser-lock-" + tc.lang + "@example.com"
			s.addUser(addr, oldPW)
			if r := s.post(key, addr); r.Status != 202 {
				t.Fatalf("request: %d", r.Status)
			}
			text, resetLink := mailLink(t, s, addr, 1)
			lockLink := lockLinkRE.FindString(text)
			if lockLink == "" {
				t.Fatalf("no lock link in the mail:\n%s", text)
			}
			resetLink = strings.Replace(resetLink, "http://localhost:8080", s.Base, 1)
			lockLink = strings.Replace(lockLink, "http://localhost:8080", s.Base, 1)
			ctx := newBrowser(t, chromium, tc.lang)

			must(t, ctx, "open lock link", chromedp.Steps(chromedp.Navigate(lockLink), chromedp.WaitVisible("#lock")))
			if loc := must(t, ctx, "location", chromedp.Location()); strings.Contains(loc, "token") || strings.Contains(loc, "@") {
				t.Errorf("address bar still holds the link's secrets: %s", loc)
			}
			if b := must(t, ctx, "button", chromedp.Text("#lock")); b != tc.button {
				t.Errorf("button %q, want %q", b, tc.button)
			}
			if lang := must(t, ctx, "lang", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != tc.lang {
				t.Errorf("page language %q", lang)
			}
			must(t, ctx, "blur", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
			must(t, ctx, "tab", chromedp.KeyEvent("\t"))
			if f := must(t, ctx, "focus", chromedp.Evaluate[string](`document.activeElement.id`)); f != "lock" {
				t.Errorf("Tab reached %q, want the lock button", f)
			}
			checkAxe(t, ctx, axe, tc.lang+" lock")
			shoot(t, ctx, shots, tc.lang+"-5-lock")

			// Pressed from the keyboard, as Tab left it.
			must(t, ctx, "press", chromedp.Steps(chromedp.KeyEvent("\r"), chromedp.WaitVisible(".success")))
			if msg := must(t, ctx, "done text", chromedp.Text(".success")); !strings.Contains(msg, tc.done) {
				t.Errorf("done page: %q", msg)
			}
			checkAxe(t, ctx, axe, tc.lang+" locked")
			shoot(t, ctx, shots, tc.lang+"-6-locked")

			// The reset link of the same mail no longer opens the form.
			must(t, ctx, "open reset link", chromedp.Steps(chromedp.Navigate(resetLink), chromedp.WaitVisible(".alert")))
			if hasForm := must(t, ctx, "form", chromedp.Evaluate[bool](`document.querySelector("form") !== null`)); hasForm {
				t.Error("the reset link still shows the form after the lock")
			}
			if s.verify(addr, oldPW) != true {
				t.Error("the lock changed the password")
			}
		})
	}
}
