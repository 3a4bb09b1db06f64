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

// MaxDomainLength is the longest domain accepted (RFC 1035, without the
// root's trailing dot).
const MaxDomainLength = 253

// ValidEmail reports whether s (after trimming white space) is one plain
// address: local@domain, no display name, no comments, no control or
// invisible characters, at most MaxEmailLength bytes, and a domain that is
// a host name: at least two dot-separated labels of ASCII letters, digits
// and inner hyphens (an internationalized domain in its punycode "xn--"
// form), each at most 63 octets, at most MaxDomainLength in all, with a
// top-level label that is not all digits. The local part may be UTF-8
// (SMTPUTF8); the domain may not: characters such as braces, which
// net/mail accepts, would reach the mail's To header and the reset link.
func ValidEmail(s string) bool {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if plainEmail(s) {
		return true
	}
	return validEmailFull(s)
}

// validEmailFull is ValidEmail's check of a trimmed address by net/mail.
func validEmailFull(s string) bool {
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
	return validDomain(domain)
}

// plainEmail accepts, without net/mail, the addresses almost every
// request carries: printable ASCII, a dot-atom local part (atext and
// single inner dots, at most 64 octets), one '@', and a domain
// validDomain accepts. Each such address is one validEmailFull accepts
// (net/mail parses it as a bare addr-spec equal to itself), so ValidEmail
// may answer true at once; anything else, valid or not, goes the full
// way. FuzzValidEmail_PlainImpliesFull holds the two together.
func plainEmail(s string) bool {
	if len(s) > MaxEmailLength {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at < 1 || at > 64 {
		return false
	}
	prev := byte('.') // a leading dot is refused like a double one
	for i := 0; i < at; i++ {
		c := s[i]
		if c == '.' {
			if prev == '.' {
				return false
			}
		} else if c >= 0x80 || !atext[c] {
			return false
		}
		prev = c
	}
	return prev != '.' && validDomain(s[at+1:])
}

// atext is RFC 5322's atext: letters, digits and !#$%&'*+-/=?^_`{|}~.
var atext = func() (t [128]bool) {
	for c := byte('a'); c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("!#$%&'*+-/=?^_`{|}~") {
		t[c] = true
	}
	return t
}()

// validDomain reports whether d is a host name of LDH labels (see
// ValidEmail).
func validDomain(d string) bool {
	if len(d) > MaxDomainLength || !strings.Contains(d, ".") {
		return false
	}
	var label string
	for rest := d; ; {
		var more bool
		label, rest, more = strings.Cut(rest, ".")
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
		if !more {
			break
		}
	}
	return strings.Trim(label, "0123456789") != "" // the top-level label
}

// LocalPart returns the part of an address before the last '@'.
func LocalPart(s string) string {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		return s[:at]
	}
	return s
}
