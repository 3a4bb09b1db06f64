package password_test

import (
	"testing"
	"unicode/utf8"

	"github.com/safereset/safereset/password"
)

// FuzzNormalizeLength: NFKC normalization is idempotent, Length counts code
// points of the normalized form (so a password and its normalized form
// have the same length and meet the same length rules), and valid UTF-8
// stays valid.
func FuzzNormalizeLength(f *testing.F) {
	for _, s := range []string{"kDWPe4qf$&mgM26&8hX", "ａａａａａａａａ", "ﬃﬃﬃﬃ", "e\u0301e\u0301", "\u00e9", "ﷺ", "\xff\xfe", "㍿", "  spaces  ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		n := password.Normalize(pw)
		if password.Normalize(n) != n {
			t.Fatalf("Normalize not idempotent on %q", pw)
		}
		if got, want := password.Length(pw), utf8.RuneCountInString(n); got != want {
			t.Fatalf("Length(%q) = %d, want %d code points of its NFKC form", pw, got, want)
		}
		if password.Length(n) != password.Length(pw) {
			t.Fatalf("Length changes under normalization for %q", pw)
		}
		if utf8.ValidString(pw) && !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) is not valid UTF-8", pw)
		}
	})
}
