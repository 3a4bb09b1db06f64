package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var clientLabelRE = regexp.MustCompile(`safereset_client_requests_total\{[^}]*client="(jwt:[^"]*)"`)

// TestSecurity_SubjectLabelIsKeyed: a JWT subject that is an email address
// shows on /metrics and in the log as a keyed hash: neither the address nor
// its unkeyed SHA-256 (what anyone could compute for a guess) appears, and
// the key sits in an owner-only file of the data dir.
func TestSecurity_SubjectLabelIsKeyed(t *testing.T) {
	const subject = "jane.doe@example.com"
	dir := t.TempDir()
	s := startServer(t, dir, "--log-format", "json", "--rate-ip", "0")
	now := time.Now()
	tok := signHS256(t, dir, jwt.MapClaims{"sub": subject, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if r := s.do("POST", resetPath, map[string]string{"Authorization": "Bearer " + tok}, `{"emailAddress":"nobody@example.com"}`); r.Status != 202 {
		t.Fatalf("POST with the JWT: %d %v", r.Status, r.Codes())
	}
	m := clientLabelRE.FindStringSubmatch(scrape(t, s.Admin))
	if m == nil {
		t.Fatal("no client label for the JWT client on /metrics")
	}
	sum := sha256.Sum256([]byte(subject))
	unkeyed := hex.EncodeToString(sum[:6])
	label := m[1]
	if !strings.HasPrefix(label, "jwt:hmac:") {
		t.Fatalf("client label %q is not a keyed hash", label)
	}
	s.Stop()
	log := s.Log.String()
	if !strings.Contains(log, label) {
		t.Fatal("the request was not logged under its client label; the test proves nothing")
	}
	for where, text := range map[string]string{"metrics": label, "log": log} {
		if strings.Contains(text, unkeyed) || strings.Contains(text, subject) {
			t.Errorf("%s lets a guessed subject be confirmed", where)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "label.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("label.key mode %v", fi.Mode().Perm())
	}
}
