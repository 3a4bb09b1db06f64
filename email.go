package safereset

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxEmailLength is the longest address accepted (RFC 5321 path limit).
const MaxEmailLength = 254

// NormalizeEmail returns the key an account is looked up by: the address
// without surrounding white space, with ASCII letters lower-cased.
//
// Non-ASCII characters are deliberately left alone. Unicode case mapping
// folds distinct characters together (the Kelvin sign K lower-cases to k,
// dotless ı and dotted İ map onto i in some locales), which would let a
// look-alike address reach another person's account. Two addresses that
// differ in any non-ASCII code point are different accounts.
func NormalizeEmail(s string) string {
	s = strings.TrimFunc(s, unicode.IsSpace)
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// ValidEmail reports whether s (after trimming white space) is one plain
// address: local@domain, no display name, no comments, no control or
// invisible characters, a dotted domain, at most MaxEmailLength bytes.
func ValidEmail(s string) bool {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if s == "" || len(s) > MaxEmailLength || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return false
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || len(local) > 64 || strings.HasPrefix(local, "\"") {
		return false
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		return false
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
	}
	return true
}

// LocalPart returns the part of an address before the last '@'.
func LocalPart(s string) string {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		return s[:at]
	}
	return s
}
