package page_test

import (
	"strings"
	"testing"

	"github.com/safereset/safereset/server/page"
)

// TestNotMe_TextsAndRender: every language has the lock page's texts,
// the done text has its {until}, and the page escapes what the link
// brings and offers exactly one button.
func TestNotMe_TextsAndRender(t *testing.T) {
	r, err := page.New()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, lang := range page.Languages {
		tx := page.TextsFor(lang)
		for name, p := range map[string]page.Problem{"LockInvalid": tx.LockInvalid, "LockExpired": tx.LockExpired} {
			if p.Message == "" || p.Solution == "" {
				t.Errorf("%s: %s is empty", lang, name)
			}
		}
		if !strings.Contains(tx.Locked, "{until}") {
			t.Errorf("%s: Locked %q lacks {until}", lang, tx.Locked)
		}
		if other, dup := seen[tx.NotMeIntro]; dup {
			t.Errorf("%s: NotMeIntro is %s's, not translated", lang, other)
		}
		seen[tx.NotMeIntro] = lang

		var b strings.Builder
		err := r.NotMe(&b, lang, page.LockForm{Product: "<b>x</b>", Assets: "/a", Action: "/reset/not-me",
			Token: `"><script>alert(1)</script>`, Email: `a"@example.com`, CSRF: "c"})
		if err != nil {
			t.Fatal(err)
		}
		s := b.String()
		if strings.Contains(s, "<script>alert") || strings.Contains(s, "<b>x</b>") || strings.Contains(s, `value="a"@`) {
			t.Fatalf("unescaped input:\n%s", s)
		}
		if strings.Count(s, "<button") != 1 || strings.Count(s, "<input") != 3 || !strings.Contains(s, tx.NotMeButton) ||
			!strings.Contains(s, `<html lang="`+lang+`">`) || !strings.Contains(s, `action="/reset/not-me"`) {
			t.Errorf("%s: not the one-button page:\n%s", lang, s)
		}
	}
}
