package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// axePath is axe-core as tools/axe installs it (npm ci in tools/axe).
const axePath = "../../tools/axe/node_modules/axe-core/axe.min.js"

// needBrowser returns Debian's chromium and axe-core, skipping loudly when
// either is missing, and failing under CI where both must be installed.
func needBrowser(t *testing.T) (chromium string, axe []byte) {
	t.Helper()
	missing := func(what string) {
		msg := "BROWSER TESTS NOT RUN: " + what + " (apt-get install chromium; cd tools/axe && npm ci)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		missing("chromium not on PATH")
	}
	axe, err = os.ReadFile(axePath)
	if err != nil {
		missing("axe-core not installed: " + err.Error())
	}
	return chromium, axe
}

// newBrowser starts a headless chromium with an empty profile that asks
// for pages in lang.
func newBrowser(t *testing.T, chromium, lang string) context.Context {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute) // a hung browser must not hang the suite
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": lang}})
		return err
	}))
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func must[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// checkAxe runs axe-core in the page through the DevTools protocol and
// fails on any violation.
func checkAxe(t *testing.T, ctx context.Context, axe []byte, state string) {
	t.Helper()
	must(t, ctx, "inject axe", chromedp.Evaluate[chromedp.Void](string(axe)))
	v := must(t, ctx, "run axe", chromedp.Evaluate[[]string](`axe.run(document).then(r => r.violations.map(v =>
		v.id + " (" + v.impact + "): " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`, chromedp.EvalAwaitPromise))
	if len(v) > 0 {
		t.Errorf("axe violations on the %s page:\n%s", state, strings.Join(v, "\n"))
	}
}

// shoot saves the page at phone and desktop width, and checks that the
// phone layout needs no sideways scrolling.
func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, vp := range []struct {
		label string
		w, h  int64
	}{{"phone", 390, 844}, {"desktop", 1280, 800}} {
		must(t, ctx, "viewport", chromedp.EmulateViewport(vp.w, vp.h))
		if fits := must(t, ctx, "width", chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`)); !fits {
			t.Errorf("%s at %s width scrolls sideways", name, vp.label)
		}
		png := must(t, ctx, "screenshot", chromedp.FullScreenshot(100))
		path := filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, vp.label))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// screenshotDir is where the browser tests keep their screenshots:
// $SAFERESET_SCREENSHOTS when set (to look at them), else a temp dir.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SAFERESET_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowser_ResetPage drives the page in a real browser, in two
// languages: the link from a real token mail, a breached password refused
// next to its field, a good one set, the spent link refused, keyboard
// reach of every control, axe-core, and screenshots at phone and desktop
// width (kept in $SAFERESET_SCREENSHOTS when set).
func TestBrowser_ResetPage(t *testing.T) {
	chromium, axe := needBrowser(t)
	shots := screenshotDir(t)
	s := startServer(t, "")
	key := s.apiKey("browser")

	for _, tc := range []struct{ lang, breachMsg, done string }{
		{"en", "Password isn't strong enough, or has been found in a data breach.", "Your new password is set."},
		{"de", "Dieses Passwort ist nicht stark genug oder wurde in einem Datenleck gefunden.", "Ihr neues Passwort ist gespeichert."},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			addr := "browser-" + tc.lang + "@example.com"
			const oldPW, newPW = "Old-pass-1!xyzzy", "kDWPe4qf$&mgM26&8hX"
			s.addUser(addr, oldPW)
			if r := s.post(key, addr); r.Status != 202 {
				t.Fatalf("request: %d", r.Status)
			}
			_, link := mailLink(t, s, addr, 1)
			link = strings.Replace(link, "http://localhost:8080", s.Base, 1)
			ctx := newBrowser(t, chromium, tc.lang)

			must(t, ctx, "open link", chromedp.Steps(chromedp.Navigate(link), chromedp.WaitVisible("#password")))
			// The script ran (CSP lets it) and dropped the token from the
			// address bar; the stylesheet applied.
			must(t, ctx, "toggle", chromedp.WaitVisible("#show"))
			if loc := must(t, ctx, "location", chromedp.Location()); strings.Contains(loc, "token") || strings.Contains(loc, "@") {
				t.Errorf("address bar still holds the link's secrets: %s", loc)
			}
			if bg := must(t, ctx, "style", chromedp.Evaluate[string](`getComputedStyle(document.querySelector("button[type=submit]")).backgroundColor`)); bg != "rgb(31, 95, 191)" {
				t.Errorf("stylesheet not applied: button background %s", bg)
			}
			if lang := must(t, ctx, "lang", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != tc.lang {
				t.Errorf("page language %q", lang)
			}

			// Tab reaches every control, in reading order.
			must(t, ctx, "blur", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
			var order []string
			for range 5 {
				must(t, ctx, "tab", chromedp.KeyEvent("\t"))
				order = append(order, must(t, ctx, "focus", chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.tagName`)))
			}
			if got, want := strings.Join(order, ","), "email,password,passwordVerify,show,BUTTON"; got != want {
				t.Errorf("tab order %s, want %s", got, want)
			}
			checkAxe(t, ctx, axe, tc.lang+" form")
			shoot(t, ctx, shots, tc.lang+"-1-form")

			// A breached password: the seed's problem next to the field,
			// which has focus.
			must(t, ctx, "breached", chromedp.Steps(
				chromedp.SendKeys("#password", "password1234"),
				chromedp.SendKeys("#passwordVerify", "password1234"),
				chromedp.Click("button[type=submit]"),
				chromedp.WaitVisible("#password-error"),
			))
			if msg := must(t, ctx, "error text", chromedp.Text("#password-error")); !strings.Contains(msg, tc.breachMsg) {
				t.Errorf("error next to the password: %q", msg)
			}
			if f := must(t, ctx, "focus", chromedp.Evaluate[string](`document.activeElement.id`)); f != "password" {
				t.Errorf("focus on %q after the error, want the password field", f)
			}
			if !s.verify(addr, oldPW) {
				t.Fatal("a refused form changed the password")
			}
			checkAxe(t, ctx, axe, tc.lang+" error")
			shoot(t, ctx, shots, tc.lang+"-2-error")

			must(t, ctx, "good", chromedp.Steps(
				chromedp.SendKeys("#password", newPW),
				chromedp.SendKeys("#passwordVerify", newPW),
				chromedp.Click("button[type=submit]"),
				chromedp.WaitVisible(".success"),
			))
			if msg := must(t, ctx, "done text", chromedp.Text(".success")); !strings.Contains(msg, tc.done) {
				t.Errorf("done page: %q", msg)
			}
			if !s.verify(addr, newPW) {
				t.Fatal("the browser's form did not set the password")
			}
			checkAxe(t, ctx, axe, tc.lang+" done")
			shoot(t, ctx, shots, tc.lang+"-3-done")

			// The link is spent.
			must(t, ctx, "reopen", chromedp.Steps(chromedp.Navigate(link), chromedp.WaitVisible(".alert")))
			if hasForm := must(t, ctx, "form", chromedp.Evaluate[bool](`document.querySelector("form") !== null`)); hasForm {
				t.Error("the spent link still shows the form")
			}
			checkAxe(t, ctx, axe, tc.lang+" spent link")
			shoot(t, ctx, shots, tc.lang+"-4-spent")
		})
	}
}
