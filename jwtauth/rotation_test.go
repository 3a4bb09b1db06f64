package jwtauth_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset/jwtauth"
)

// TestVerify_RotationOverlap: with a new secret signing and the old one in
// HS256Previous, tokens of both verify and new tokens are signed with the
// new one; once the old secret is dropped its tokens fail.
func TestVerify_RotationOverlap(t *testing.T) {
	oldKey := bytes.Repeat([]byte("o"), jwtauth.SecretSize)
	newKey := bytes.Repeat([]byte("n"), jwtauth.SecretSize)
	otherKey := bytes.Repeat([]byte("x"), jwtauth.SecretSize)
	now := time.Now()
	sign := func(key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "shop", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before, err := jwtauth.New(jwtauth.Config{HS256Secret: oldKey, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	oldTok, err := before.Issue("shop", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	during, err := jwtauth.New(jwtauth.Config{HS256Secret: newKey, HS256Previous: [][]byte{oldKey}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"IssuedBeforeRotation": oldTok, "SignedWithOld": sign(oldKey), "SignedWithNew": sign(newKey)} {
		if sub, err := during.Verify(tok); err != nil || sub != "shop" {
			t.Errorf("%s during the overlap: %q %v", name, sub, err)
		}
	}
	if _, err := during.Verify(sign(otherKey)); err == nil {
		t.Error("a token signed with an unknown key verified")
	}
	newTok, err := during.Issue("shop", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	after, err := jwtauth.New(jwtauth.Config{HS256Secret: newKey, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.Verify(newTok); err != nil {
		t.Errorf("a token issued during the overlap is not signed with the new key: %v", err)
	}
	if _, err := after.Verify(oldTok); err == nil {
		t.Error("the old key still verifies after it was dropped")
	}

	_, err = jwtauth.New(jwtauth.Config{HS256Secret: newKey, HS256Previous: [][]byte{[]byte("short")}})
	if err == nil || !strings.Contains(err.Error(), "previous HS256 secret 1") {
		t.Errorf("short previous secret: %v", err)
	}
}
