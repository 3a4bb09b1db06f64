package main

// Security tests: each one is an attack against the real server (in-process
// `serve`, or the built binary where the process itself is measured).
// They are split by theme into security_*_e2e_test.go; this file: attacker-
// controlled text in logs and metrics.

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
)

// signHS256 signs claims with the server's generated HS256 secret, as an
// identity provider sharing it would.
func signHS256(t *testing.T, dataDir string, claims jwt.MapClaims) string {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(dataDir, "jwt.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret) // raw random bytes: not trimmed
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSecurity_LogInjection: attacker-controlled text that reaches log
// lines (request ids, JWT subjects, API key names, addresses) cannot
// forge a line or smuggle terminal escapes, in text or JSON format, at
// debug level; and no secret reaches the log, the metrics or an error body.
func TestSecurity_LogInjection(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			s := startServer(t, dir, "--log-format", format, "--log-level", "debug", "--rate-ip", "0")
			s.addUser(alice, oldPW)
			key := s.apiKey("logs")
			const forged = "INJECTED level=ERROR msg=forged"
			now := time.Now()
			claims := func(sub string) jwt.MapClaims {
				return jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
			}
			// Control characters in a subject are refused at verification.
			for _, sub := range []string{"shop\n" + forged, "shop\x1b[31m", "shop\u2028" + forged, "shop\r", "\u202eshop"} {
				r := s.do("POST", resetPath, map[string]string{"Authorization": "Bearer " + signHS256(t, dir, claims(sub))}, `{}`)
				if r.Status != 401 || !sameCodes(r.Codes(), safereset.ER800) {
					t.Errorf("subject %q: %d %v", sub, r.Status, r.Codes())
				}
			}
			// A printable subject built to break the log format is accepted and must be quoted.
			evilSub := `shop" ` + forged + ` x="`
			if format == "json" {
				evilSub = `shop","level":"ERROR","msg":"forged","x":"` + forged
			}
			jwtTok := signHS256(t, dir, claims(evilSub))

			// Request ids: only sane ones are echoed.
			for _, id := range []string{"ok-id_1.2", "bad\x1b[31mid", "bad id", `bad"id`, "bad\u2028id", strings.Repeat("a", 65), "bad%0aid"} {
				st, answer := secRaw(t, s.Base, "POST "+resetPath+" HTTP/1.1\r\nHost: x\r\nX-Request-Id: "+id+
					"\r\nX-Api-Key: "+key+"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
				echoed := strings.Contains(answer, "X-Request-Id: "+id+"\r\n")
				if st != 400 && st != 0 {
					t.Errorf("request id %q: %d", id, st)
				}
				if echoed != (id == "ok-id_1.2") {
					t.Errorf("request id %q echoed=%v", id, echoed)
				}
			}
			if r := s.do("POST", resetPath, map[string]string{"Authorization": "Bearer " + jwtTok}, secJSON(map[string]any{"emailAddress": alice})); r.Status != 202 {
				t.Fatalf("POST with the printable evil subject: %d %v", r.Status, r.Codes())
			}
			tok := s.waitToken(alice, 1)
			// Rejected tokens are logged at debug level with a reason.
			bad := signHS256(t, dir, jwt.MapClaims{"sub": "x", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "iss": "evil\n" + forged, "aud": "\x1b[31m"})
			s.do("POST", resetPath, map[string]string{"Authorization": "Bearer " + bad[:len(bad)-3] + "AAA"}, `{}`)
			if st, _ := secRaw(t, s.Base, "POST "+resetPath+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+strings.Replace(jwtTok, ".", ".\x1b[31m", 1)+
				"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"); st != 401 && st != 400 {
				// 401 ER800 from the handler, or a bare 400 from fasthttp
				// (>= 1.62 refuses control characters in header values).
				t.Errorf("bearer with an escape: %d", st)
			}
			// Addresses with escapes and line breaks.
			for _, e := range []string{"a\x1b[31m@example.com", "a@example.com\n" + forged, "\u202ea@example.com"} {
				s.do("PATCH", resetPath, map[string]string{"X-Api-Key": key}, secPatchBody(e, strongPW, tok))
			}
			// API key names and JWT subjects with control characters are refused up front.
			if st := s.admin("POST", "/admin/v1/apikeys", map[string]string{"name": "a\nb"}, nil); st != 400 {
				t.Errorf("api key name with a newline: %d", st)
			}
			if st := s.admin("POST", "/admin/v1/jwt", map[string]string{"subject": "a\x1b[31m"}, nil); st != 400 {
				t.Errorf("jwt subject with an escape: %d", st)
			}
			// The real reset, to have the token and passwords in flight.
			if r := s.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
				t.Fatalf("reset: %d %v", r.Status, r.Codes())
			}
			metrics := scrape(t, s.Admin)
			s.Stop()
			log := s.Log.String()
			if !strings.Contains(log, "not printable") {
				t.Error("the control-character subjects were not refused for their subject")
			}
			// A subject outside the name alphabet is logged as its hash, so
			// the printable evil subject never reaches the log verbatim; the
			// request itself must still be logged under that hashed client.
			if !strings.Contains(log, "jwt:hmac:") {
				t.Fatal("the request with the evil subject was not logged under a hashed client; the test proves nothing")
			}
			for i, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
				if strings.ContainsAny(line, "\x1b\r\u2028\u202e") {
					t.Errorf("line %d carries a raw control character: %q", i, line)
				}
				switch format {
				case "text":
					if !strings.HasPrefix(line, "time=") {
						t.Errorf("line %d is not a log record (forged?): %q", i, line)
					}
				case "json":
					var m map[string]any
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Errorf("line %d is not one JSON record: %q", i, line)
					} else if m["msg"] == "forged" {
						t.Errorf("line %d forged a record: %q", i, line)
					}
				}
			}
			for name, secret := range map[string]string{"token": tok, "api key": key, "api key body": key[3:], "old password": oldPW,
				"new password": strongPW, "address": alice, "admin token": s.Token, "jwt signature": jwtTok[strings.LastIndex(jwtTok, ".")+1:]} {
				if strings.Contains(log, secret) {
					t.Errorf("log contains the %s", name)
				}
				if strings.Contains(metrics, secret) {
					t.Errorf("metrics contain the %s", name)
				}
			}
			if strings.Contains(metrics, "INJECTED") || strings.Contains(metrics, "shop") {
				t.Error("attacker text reached a metric label")
			}
		})
	}
}

func scrape(t *testing.T, ops string) string {
	t.Helper()
	resp, err := http.Get(ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
