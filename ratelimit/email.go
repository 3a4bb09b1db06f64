package ratelimit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// EmailKey returns the bucket key for an address: HMAC-SHA256 under secret
// of the folded address, base64url without padding. Addresses that differ
// only in case (full Unicode case folding, so the Kelvin sign K is k),
// compatibility form (NFKC, so fullwidth letters are ASCII), white space
// or invisible format characters share one key.
//
// The fold is deliberately more aggressive than safereset.NormalizeEmail,
// which decides which account an address reaches: merging two addresses
// into one bucket can only limit more, never less.
func EmailKey(secret []byte, raw string) string {
	return emailKey(hmac.New(sha256.New, secret), raw)
}

// emailKey is EmailKey with a keyed HMAC-SHA256 in its initial state.
func emailKey(mac hash.Hash, raw string) string {
	mac.Write([]byte(foldEmail(raw)))
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(mac.Sum(sum[:0]))
}

// foldEmail is NFKC_Casefold in spirit: NFKC, full case folding, NFKC
// again (folding can undo normalization), with white space, control and
// format characters (zero-width space, soft hyphen, ...) removed anywhere
// in the string. Invalid UTF-8 bytes become U+FFFD.
func foldEmail(s string) string {
	if ascii, ok := foldASCII(s); ok {
		return ascii
	}
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	s = norm.NFKC.String(s)
	// A Caser keeps state between calls, so each call gets its own.
	s = cases.Fold().String(s)
	s = norm.NFKC.String(s)
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, s)
}

// foldASCII is the fast path for the common all-ASCII address: the same
// result foldEmail would give, without the Unicode tables.
func foldASCII(s string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return "", false
		case c <= ' ' || c == 0x7f: // white space and control characters
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String(), true
}
