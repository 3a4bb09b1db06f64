package safereset_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/safereset/safereset"
)

// FuzzValidEmail: normalizing an address never changes whether it is
// valid, a valid address normalizes to a valid key that stays put, and
// LocalPart of a valid address is a non-empty prefix of it.
func FuzzValidEmail(f *testing.F) {
	for _, s := range []string{"jane@example.com", " Jane.Doe@EXAMPLE.com\t", "\u212aelvin@example.com", "a@b", "a@@b.co",
		`"q"@b.co`, "x@[1.2.3.4]", "Jane <jane@example.com>", "j\u200bane@example.com", "ÄÖ@example.com", "a@-b.co", "\xff@x.co"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := safereset.NormalizeEmail(s)
		if safereset.NormalizeEmail(n) != n {
			t.Fatalf("NormalizeEmail not idempotent on %q", s)
		}
		valid := safereset.ValidEmail(s)
		if safereset.ValidEmail(n) != valid {
			t.Fatalf("ValidEmail(%q) = %v but ValidEmail(NormalizeEmail) = %v", s, valid, !valid)
		}
		if !valid {
			return
		}
		if !utf8.ValidString(n) || len(n) > safereset.MaxEmailLength || strings.TrimSpace(n) != n {
			t.Fatalf("valid %q normalizes to an unusable key %q", s, n)
		}
		if lp := safereset.LocalPart(n); lp == "" || !strings.HasPrefix(n, lp+"@") {
			t.Fatalf("LocalPart(%q) = %q", n, lp)
		}
	})
}

// FuzzValidEmail_PlainImpliesFull: ValidEmail answers the common case
// without net/mail (plainEmail), which is only right if every address
// plainEmail accepts is one the full check accepts too, and ValidEmail's
// answer is then the full check's on every input.
func FuzzValidEmail_PlainImpliesFull(f *testing.F) {
	for _, s := range []string{"jane@example.com", "a.b@c.co", ".a@b.co", "a.@b.co", "a..b@c.co", "a@b.c0", "a@b.9",
		"{x}@b.co", "a@b.co{x}", "a@b..co", "a@-b.co", "a@xn--bcher-kva.example", "\"a\"@b.co", "a b@c.co", "a@b@c.co",
		"x@[1.2.3.4]", "é@b.co", "a@b.co\x00", strings.Repeat("a", 65) + "@b.co", "!#$%&'*+-/=?^_`{|}~@b.co"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		trimmed := strings.TrimFunc(s, unicode.IsSpace)
		full := safereset.ValidEmailFullForTest(trimmed)
		if safereset.PlainEmailForTest(trimmed) && !full {
			t.Fatalf("plainEmail accepts %q, which the full check refuses", trimmed)
		}
		if got := safereset.ValidEmail(s); got != full {
			t.Fatalf("ValidEmail(%q) = %v, the full check says %v", s, got, full)
		}
	})
}
