package jwtauth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic,
// accept a token it did not sign, or quote the token in its error.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	v := mustNew(f, fx.cfg)
	for _, s := range []string{
		"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.",
		sign(f, jwt.SigningMethodHS256, fx.secret, nil, goodClaims(nil)),
		sign(f, jwt.SigningMethodES256, fx.jwksEC, map[string]any{"kid": "ec-1"}, goodClaims(nil)),
		sign(f, jwt.SigningMethodHS256, mustRandom(f, 32), nil, goodClaims(nil)),
		handBuilt(f, map[string]any{"alg": "HS256", "jku": "x"}, goodClaims(nil), "AAAA"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		sub, err := v.Verify(token)
		if err == nil {
			// Only well-signed tokens get here; the fuzzer may replay a seed.
			if sub == "" {
				t.Fatal("accepted with an empty subject")
			}
			return
		}
		inv, exp := errors.Is(err, safereset.ErrAuthInvalid), errors.Is(err, safereset.ErrAuthExpired)
		if inv == exp {
			t.Fatalf("error %v: ER800=%v ER801=%v, want exactly one", err, inv, exp)
		}
		if msg := err.Error(); len(token) >= 8 && strings.Contains(msg, token) {
			t.Fatalf("error quotes the token: %q", msg)
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("error spans lines: %q", err)
		}
	})
}

func TestVerify_ExtremeClaimValues(t *testing.T) {
	f := newFixture(t)
	cfg := f.cfg
	cfg.NotBefore = time.Time{} // so iat is checked by range alone
	v := mustNew(t, cfg)
	tests := []struct {
		name string
		mods map[string]any
		want error
	}{
		{"exp huge", map[string]any{"exp": 1e300}, safereset.ErrAuthInvalid},
		{"exp negative huge", map[string]any{"exp": -1e300}, safereset.ErrAuthInvalid},
		{"exp 1e19", map[string]any{"exp": 1e19}, safereset.ErrAuthInvalid},
		{"exp year 10000", map[string]any{"exp": 253402300800}, safereset.ErrAuthInvalid},
		{"exp 1970", map[string]any{"exp": 0}, safereset.ErrAuthExpired},
		{"exp fractional, past", map[string]any{"exp": float64(testNow.Add(-time.Hour).Unix()) + 0.5}, safereset.ErrAuthExpired},
		{"nbf huge", map[string]any{"nbf": 1e300}, safereset.ErrAuthInvalid},
		{"nbf 9.3e18", map[string]any{"nbf": 9.3e18}, safereset.ErrAuthInvalid},
		{"nbf negative", map[string]any{"nbf": -1}, safereset.ErrAuthInvalid},
		{"iat huge", map[string]any{"iat": 1e300}, safereset.ErrAuthInvalid},
		{"sub number", map[string]any{"sub": 42}, safereset.ErrAuthInvalid},
		{"aud object", map[string]any{"aud": map[string]any{"a": 1}}, safereset.ErrAuthInvalid},
		{"aud array of numbers", map[string]any{"aud": []any{1, 2}}, safereset.ErrAuthInvalid},
		{"iss array", map[string]any{"iss": []string{testIssuer}}, safereset.ErrAuthInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, f.secret, nil, goodClaims(tt.mods))
			if _, err := v.Verify(tok); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}
