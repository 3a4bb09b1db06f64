package jwtauth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/jwtauth"
)

// TestVerify_MaxLifetime: a token may not live longer than MaxLifetime
// (default MaxTTL, 30 days), so a leaked one does not stay valid for
// decades; the limit counts from iat, or from now without iat.
func TestVerify_MaxLifetime(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sign := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name    string
		max     time.Duration
		claims  jwt.MapClaims
		wantErr error
	}{
		{"29Days", 0, jwt.MapClaims{"sub": "a", "iat": now.Unix(), "exp": now.Add(29 * 24 * time.Hour).Unix()}, nil},
		{"100Years", 0, jwt.MapClaims{"sub": "a", "iat": now.Unix(), "exp": now.AddDate(100, 0, 0).Unix()}, safereset.ErrAuthInvalid},
		{"NoIat31Days", 0, jwt.MapClaims{"sub": "a", "exp": now.Add(31 * 24 * time.Hour).Unix()}, safereset.ErrAuthInvalid},
		{"OldIatLongExp", 0, jwt.MapClaims{"sub": "a", "iat": now.Add(-20 * 24 * time.Hour).Unix(), "exp": now.Add(20 * 24 * time.Hour).Unix()}, safereset.ErrAuthInvalid},
		{"Configured1h", time.Hour, jwt.MapClaims{"sub": "a", "iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix()}, safereset.ErrAuthInvalid},
		{"Configured1hOK", time.Hour, jwt.MapClaims{"sub": "a", "iat": now.Unix(), "exp": now.Add(50 * time.Minute).Unix()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := jwtauth.New(jwtauth.Config{HS256Secret: secret, MaxLifetime: tc.max, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(sign(tc.claims))
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
		})
	}
	// Issue never mints a token the verifier would refuse.
	v, err := jwtauth.New(jwtauth.Config{HS256Secret: secret, MaxLifetime: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Issue("shop", 2*time.Hour); !errors.Is(err, jwtauth.ErrInvalidTTL) {
		t.Fatalf("Issue above the max lifetime: %v", err)
	}
	if tok, err := v.Issue("shop", time.Hour); err != nil {
		t.Fatal(err)
	} else if _, err := v.Verify(tok); err != nil {
		t.Fatalf("token issued at the max lifetime refused: %v", err)
	}
	if _, err := jwtauth.New(jwtauth.Config{HS256Secret: secret, MaxLifetime: time.Second}); err == nil {
		t.Fatal("a max lifetime below MinTTL was accepted")
	}
}
