package jwtauth_test

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset/jwtauth"
)

// benchToken builds a verifier over a fresh fixture and a token signed
// with that fixture's keys.
func benchToken(b *testing.B, signWith func(f *fixture) string) (*jwtauth.Verifier, string) {
	b.Helper()
	f := newFixture(b)
	return mustNew(b, f.cfg), signWith(f)
}

func runBench(b *testing.B, v *jwtauth.Verifier, token string, wantOK bool) {
	b.Helper()
	if _, err := v.Verify(token); (err == nil) != wantOK {
		b.Fatalf("Verify: %v, want ok=%v", err, wantOK)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = v.Verify(token)
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	v, tok := benchToken(b, func(f *fixture) string { return sign(b, jwt.SigningMethodHS256, f.secret, nil, goodClaims(nil)) })
	runBench(b, v, tok, true)
}

func BenchmarkVerifyES256(b *testing.B) {
	v, tok := benchToken(b, func(f *fixture) string {
		return sign(b, jwt.SigningMethodES256, f.jwksEC, map[string]any{"kid": "ec-1"}, goodClaims(nil))
	})
	runBench(b, v, tok, true)
}

func BenchmarkVerifyRS256(b *testing.B) {
	v, tok := benchToken(b, func(f *fixture) string {
		return sign(b, jwt.SigningMethodRS256, f.jwksRSA, map[string]any{"kid": "rsa-1"}, goodClaims(nil))
	})
	runBench(b, v, tok, true)
}

func BenchmarkVerifyEdDSA(b *testing.B) {
	v, tok := benchToken(b, func(f *fixture) string {
		return sign(b, jwt.SigningMethodEdDSA, f.jwksEd, map[string]any{"kid": "ed-1"}, goodClaims(nil))
	})
	runBench(b, v, tok, true)
}

// BenchmarkVerifyHuge is a 1 MiB header value: refused by length alone.
func BenchmarkVerifyHuge(b *testing.B) {
	v, tok := benchToken(b, func(*fixture) string { return strings.Repeat("A", 1<<20) })
	runBench(b, v, tok, false)
}

// BenchmarkVerifyWorstCase8K is the most expensive token that reaches the
// parser: 8 KiB of well-formed segments with a wrong HS256 signature.
func BenchmarkVerifyWorstCase8K(b *testing.B) {
	v, tok := benchToken(b, func(f *fixture) string {
		return sign(b, jwt.SigningMethodHS256, mustRandom(b, 32), nil, goodClaims(map[string]any{"pad": strings.Repeat("p", 5800)}))
	})
	if len(tok) > jwtauth.MaxTokenSize {
		b.Fatalf("token of %d bytes is over the limit", len(tok))
	}
	runBench(b, v, tok, false)
}
