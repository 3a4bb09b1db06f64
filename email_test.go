package safereset_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/safereset/safereset"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Victim@Example.COM", "victim@example.com"},
		{"  victim@example.com\t\n", "victim@example.com"},
		{"\u00a0victim@example.com\u2003", "victim@example.com"}, // Unicode spaces trimmed too
		{"JÖRG@example.com", "jÖrg@example.com"},                 // non-ASCII left exactly as sent
	} {
		if got := safereset.NormalizeEmail(tc.in); got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestNormalizeEmail_UnicodeCaseTricks: characters whose Unicode case
// mapping lands on an ASCII letter must never reach the ASCII account.
func TestNormalizeEmail_UnicodeCaseTricks(t *testing.T) {
	for _, tc := range []struct{ trick, victim string }{
		{"\u212aelvin@example.com", "kelvin@example.com"},   // KELVIN SIGN lower-cases to k
		{"adm\u0131n@example.com", "admin@example.com"},     // dotless ı upper-cases to I
		{"ADM\u0130N@example.com", "admin@example.com"},     // dotted İ lower-cases to i̇
		{"\u017fupport@example.com", "support@example.com"}, // long s ſ upper-cases to S
		{"ﬀ@example.com", "ff@example.com"},                 // ligature
		{"ｖｉｃｔｉｍ@example.com", "victim@example.com"},        // fullwidth
		{"victim@e\u0445ample.com", "victim@example.com"},   // Cyrillic х
	} {
		got := safereset.NormalizeEmail(tc.trick)
		if got == safereset.NormalizeEmail(tc.victim) {
			t.Errorf("%q normalizes onto the account %q", tc.trick, tc.victim)
		}
		if strings.EqualFold(got, tc.victim) && got != tc.victim && !isASCII(tc.trick) {
			// EqualFold says these are "the same" under Unicode folding: the
			// reason NormalizeEmail must not use it.
			t.Logf("%q folds onto %q under Unicode rules, kept apart here", tc.trick, tc.victim)
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func TestValidEmail(t *testing.T) {
	valid := []string{"jane@example.com", " jane@example.com ", "j.a+tag@sub.example.co.uk", "jörg@xn--bcher-kva.example", "a@b.co",
		"JANE@EXAMPLE.COM", "x@a-b.c0m", "x@" + strings.Repeat(strings.Repeat("d", 63)+".", 3) + strings.Repeat("e", 60)} // 254 octets
	invalid := []string{
		"", "jane", "jane@", "@example.com", "jane@localhost", "jane@@example.com", "Jane <jane@example.com>",
		"jane@example..com", "jane@-example.com", "\"jane\"@example.com", "jane@[127.0.0.1]",
		"jane\n@example.com", "jane@exa\u200bmple.com", "jane@example.com\x00", "ja ne@example.com",
		strings.Repeat("a", 65) + "@example.com", "a@" + strings.Repeat("b", 250) + ".com", "jane@example.com\xff",
		// The domain is LDH labels only: net/mail accepts all of these.
		"jane@example.com{token}", "jane@{token}.example.com", "jane@exa{mple.com", "jane@example.com}", "jane@ex!ample.com",
		"jane@ex#ample.com", "jane@ex$ample.com", "jane@ex%ample.com", "jane@ex&ample.com", "jane@ex'ample.com",
		"jane@ex*ample.com", "jane@ex+ample.com", "jane@ex/ample.com", "jane@ex=ample.com", "jane@ex?ample.com",
		"jane@ex^ample.com", "jane@ex_ample.com", "jane@ex`ample.com", "jane@ex|ample.com", "jane@ex~ample.com",
		"jörg@bücher.example", "jane@exa\u0430mple.com", "jane@example.123", "jane@1.2.3.4",
		"x@" + strings.Repeat(strings.Repeat("d", 63)+".", 3) + strings.Repeat("e", 61), // 255 octets
		"x@" + strings.Repeat("d", 64) + ".com",
	}
	for _, s := range valid {
		if !safereset.ValidEmail(s) {
			t.Errorf("ValidEmail(%q) = false, want true", s)
		}
	}
	for _, s := range invalid {
		if safereset.ValidEmail(s) {
			t.Errorf("ValidEmail(%q) = true, want false", s)
		}
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Victim@Example.COM", "\u212aelvin@example.com", " a@b.c ", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := safereset.NormalizeEmail(s)
		if safereset.NormalizeEmail(n) != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, safereset.NormalizeEmail(n))
		}
		// Only ASCII bytes ever change: the non-ASCII content is untouched.
		if len(n) > len(s) {
			t.Fatalf("normalized form longer than input")
		}
		_ = safereset.ValidEmail(s) // never panics
	})
}
