package page_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/server/page"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct{ header, fallback, want string }{
		{"", "en", "en"},
		{"", "de", "de"},
		{"", "pt", "en"},
		{"nl", "en", "nl"},
		{"nl-BE", "en", "nl"},
		{"NL-be", "en", "nl"},
		{"fr;q=0.5, es;q=0.9", "en", "es"},
		{"ja, de;q=0.1", "en", "de"},
		{"ja, zh", "fr", "fr"},
		{"de;q=0, fr;q=0.2", "en", "fr"},
		{"de;q=bogus, es", "en", "es"},
		{"de;q=2, es;q=0.3", "en", "es"},
		{"*", "nl", "nl"},
		{strings.Repeat("ja,", 40) + "de", "en", "en"}, // past the first 32 entries
	} {
		if got := page.Negotiate(tc.header, tc.fallback); got != tc.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", tc.header, tc.fallback, got, tc.want)
		}
	}
}

// pageCodes are the catalog codes the page can show.
var pageCodes = []safereset.Code{safereset.ER001, safereset.ER003, safereset.ER004, safereset.ER122, safereset.ER123,
	safereset.ER349, safereset.ER350, safereset.ER351, safereset.ER352, safereset.ER353, safereset.ER355,
	safereset.ER413, safereset.ER429, safereset.ER999}

// TestTexts_Complete: every shipped language has every text, and a
// translation of every code the page shows; English shows the seed's texts.
func TestTexts_Complete(t *testing.T) {
	if !reflect.DeepEqual(page.Languages, safereset.Locales()) {
		t.Fatalf("page languages %v, locales %v", page.Languages, safereset.Locales())
	}
	for _, lang := range page.Languages {
		tx := page.TextsFor(lang)
		if tx.Lang != lang {
			t.Errorf("%s: Lang %q", lang, tx.Lang)
		}
		v := reflect.ValueOf(*tx)
		for i := range v.NumField() {
			if f := v.Field(i); f.Kind() == reflect.String && f.String() == "" {
				t.Errorf("%s: %s is empty", lang, v.Type().Field(i).Name)
			}
		}
		if !strings.Contains(tx.Count, "{n}") {
			t.Errorf("%s: Count %q lacks {n}", lang, tx.Count)
		}
		for _, code := range pageCodes {
			p := page.CodeProblem(lang, code)
			seed, _ := safereset.Lookup(code)
			if p.Message == "" || p.Solution == "" {
				t.Errorf("%s %s: empty text", lang, code)
			}
			if lang == "en" && (p.Message != seed.Message || p.Solution != seed.Solution) {
				t.Errorf("en %s is not the seed's text: %+v", code, p)
			}
			if lang != "en" && p.Message == seed.Message {
				t.Errorf("%s %s is not translated", lang, code)
			}
		}
	}
}

// TestRender_Escapes: what comes from the link is escaped, never markup.
func TestRender_Escapes(t *testing.T) {
	r, err := page.New()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err = r.Form(&b, "en", page.Form{Product: `<b>x</b>`, Assets: "/a", Action: "/reset", Token: `"><script>alert(1)</script>`,
		Email: `a"@example.com`, CSRF: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if s := b.String(); strings.Contains(s, "<script>alert") || strings.Contains(s, "<b>x</b>") || strings.Contains(s, `value="a"@`) {
		t.Fatalf("unescaped input:\n%s", s)
	}
}
