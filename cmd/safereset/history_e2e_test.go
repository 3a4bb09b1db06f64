package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/store"
)

// Four passwords that pass every other rule (breach filter, strength,
// local part), so ER349 can only come from the history.
var historyPWs = []string{"kettle-Violet-harbor-93", "Quartz#meadow-lantern-71", "orbit-Saffron-pillow-58", "Granite%willow-ember-46"}

const hashCount = "safereset_password_hash_duration_seconds_count"

// TestPasswordHistory_E2E runs the real server with --password-history 3
// on both engines: after A→B→C, each of A, B and C is refused with ER349
// (the token stays live, the password stays C), D is accepted; a request
// with a wrong token and an old password is answered without a single
// hash verify; with the default 0 an old password is accepted again.
func TestPasswordHistory_E2E(t *testing.T) {
	engines := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"bbolt", func(*testing.T) []string { return nil }},
		{"postgres", func(t *testing.T) []string {
			url := pgtest.New(t)
			if _, _, err := runCmd(t, "migrate", "--database-url", url); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			return []string{"--database-url", url}
		}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			args := func(t *testing.T, extra ...string) []string {
				return append(append([]string{"--rate-ip", "0", "--rate-reset-email", "0", "--rate-request-email", "0"}, e.args(t)...), extra...)
			}
			t.Run("N=3", func(t *testing.T) { historyN3(t, startServer(t, "", args(t, "--password-history", "3")...)) })
			t.Run("N=0", func(t *testing.T) { historyOff(t, startServer(t, "", args(t)...)) })
		})
	}
}

// resetTo requests a token for alice and sets pw with it.
func resetTo(t *testing.T, s *testServer, key string, n int, pw string) {
	t.Helper()
	if r := s.post(key, alice); r.Status != 202 {
		t.Fatalf("request token: %d %s", r.Status, r.Body)
	}
	tok := s.waitToken(alice, n)
	if r := s.patch(key, alice, pw, pw, tok); r.Status != 204 {
		t.Fatalf("reset to password #%d: %d %s", n, r.Status, r.Body)
	}
}

func historyN3(t *testing.T, s *testServer) {
	a, b, c, d := historyPWs[0], historyPWs[1], historyPWs[2], historyPWs[3]
	s.addUser(alice, a)
	key := s.apiKey("history")
	resetTo(t, s, key, 1, b)
	resetTo(t, s, key, 2, c)

	if r := s.post(key, alice); r.Status != 202 {
		t.Fatalf("request token: %d", r.Status)
	}
	tok := s.waitToken(alice, 3)

	// A guess (wrong token) carrying an old password: the cheap rules
	// answer it, no hash is verified, and no ER349 tells the guesser
	// anything about the history.
	before := metricValue(t, s.Admin, hashCount)
	if before < 0 {
		t.Fatalf("metric %s not exposed", hashCount)
	}
	wrong := "0123456789abcdef0123456789abcdef"
	if wrong == tok {
		wrong = "fedcba9876543210fedcba9876543210"
	}
	if r := s.patch(key, alice, a, a, wrong); r.Status != 400 || !slices.Equal(r.Codes(), []string{"ER352"}) {
		t.Errorf("wrong token with an old password: %d %v, want 400 [ER352]", r.Status, r.Codes())
	}
	if after := metricValue(t, s.Admin, hashCount); after != before {
		t.Errorf("a wrong-token request verified %v hashes; want none", after-before)
	}

	// The live token: the current and both previous passwords are
	// refused, each after at least one verify in a hashing slot.
	for i, pw := range []string{a, b, c} {
		before := metricValue(t, s.Admin, hashCount)
		r := s.patch(key, alice, pw, pw, tok)
		if r.Status != 400 || !slices.Equal(r.Codes(), []string{"ER349"}) {
			t.Errorf("reusing password #%d: %d %v, want 400 [ER349]", i, r.Status, r.Codes())
		}
		if after := metricValue(t, s.Admin, hashCount); after <= before {
			t.Errorf("reusing password #%d: no hash verified", i)
		}
	}
	if !s.verify(alice, c) {
		t.Fatal("a refused reuse changed the password")
	}
	if r := s.patch(key, alice, d, d, tok); r.Status != 204 {
		t.Fatalf("a new password with the still-live token: %d %s", r.Status, r.Body)
	}
	if !s.verify(alice, d) {
		t.Fatal("password D was not set")
	}
	// History now D, C, B: A has dropped out and may be used again.
	resetTo(t, s, key, 4, a)
}

func historyOff(t *testing.T, s *testServer) {
	a, b := historyPWs[0], historyPWs[1]
	s.addUser(alice, a)
	key := s.apiKey("history")
	resetTo(t, s, key, 1, b)
	resetTo(t, s, key, 2, a)
	resetTo(t, s, key, 3, a)
	if !s.verify(alice, a) {
		t.Fatal("password A was not set again")
	}
}

// TestStoreCopy_KeepsPasswordHistory: `store copy` moves the kept hashes
// from bbolt to PostgreSQL and back, so a moved deployment still refuses
// an old password.
func TestStoreCopy_KeepsPasswordHistory(t *testing.T) {
	a, b := historyPWs[0], historyPWs[1]
	dir := t.TempDir()
	flags := []string{"--rate-ip", "0", "--rate-reset-email", "0", "--rate-request-email", "0", "--password-history", "3"}
	s := startServer(t, dir, flags...)
	s.addUser(alice, a)
	key := s.apiKey("history")
	resetTo(t, s, key, 1, b)
	s.Stop()

	url := pgtest.New(t)
	if out, _, err := runCmd(t, "store", "copy", "--from", filepath.Join(dir, "safereset.db"), "--to", url); err != nil {
		t.Fatalf("store copy to PostgreSQL: %q, %v", out, err)
	}
	p := startServer(t, "", append([]string{"--database-url", url}, flags...)...)
	if r := p.post(key, alice); r.Status != 202 {
		t.Fatalf("request token after the copy: %d", r.Status)
	}
	tok := p.waitToken(alice, 1)
	if r := p.patch(key, alice, a, a, tok); r.Status != 400 || !slices.Equal(r.Codes(), []string{"ER349"}) {
		t.Errorf("the previous password after the copy: %d %v, want 400 [ER349]", r.Status, r.Codes())
	}
	p.Stop()

	back := filepath.Join(t.TempDir(), "safereset.db")
	if out, _, err := runCmd(t, "store", "copy", "--from", url, "--to", back); err != nil {
		t.Fatalf("store copy back to bbolt: %q, %v", out, err)
	}
	db, err := store.Open(back, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByEmail(context.Background(), alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.PasswordHistory) != 1 || !strings.HasPrefix(u.PasswordHistory[0], "$argon2id$") || u.PasswordHistory[0] == u.PasswordHash {
		t.Errorf("history after the copy back = %q; want the one previous argon2id hash", u.PasswordHistory)
	}
	for _, h := range u.PasswordHistory {
		if strings.Contains(h, a) {
			t.Errorf("history holds the password itself: %q", h)
		}
	}
}

// TestServe_PasswordHistoryBounds: an out-of-range N, by flag or by its
// environment twin, is one line and a non-zero exit before anything opens.
func TestServe_PasswordHistoryBounds(t *testing.T) {
	for _, args := range [][]string{{"--password-history", "25"}, {"--password-history", "-1"}, {"--password-history", "four"}} {
		_, _, err := runCmd(t, append([]string{"serve", "--data-dir", t.TempDir()}, args...)...)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "password-history") {
			t.Errorf("serve %q: err = %v; want one line naming --password-history", args, err)
		}
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"safereset", "serve", "--data-dir", t.TempDir()},
		func(k string) string {
			if k == "SAFERESET_PASSWORD_HISTORY" {
				return "99"
			}
			return ""
		}, strings.NewReader(""), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "password-history") {
		t.Errorf("SAFERESET_PASSWORD_HISTORY=99: err = %v; want a refusal", err)
	}
}
