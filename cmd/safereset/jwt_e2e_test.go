package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
)

func writePEM(t *testing.T, path string, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestJWT_ForgedTokens sends forged and broken tokens through the real
// server on both routes; each must get exactly its documented answer.
func TestJWT_ForgedTokens(t *testing.T) {
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	pemPath := filepath.Join(t.TempDir(), "keys.pem")
	rsaPEM := writePEM(t, pemPath, &rsaKey.PublicKey)
	// Add the EC key to the same PEM file.
	der, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	f, _ := os.OpenFile(pemPath, os.O_APPEND|os.O_WRONLY, 0)
	pem.Encode(f, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
	f.Close()

	s := startServer(t, dir, "--jwt-public-keys", pemPath, "--jwt-issuer", "https://idp.example", "--jwt-audience", "safereset")
	s.addUser(alice, oldPW)
	secret, err := os.ReadFile(filepath.Join(dir, "jwt.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "jwt.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("jwt.key mode %v", fi.Mode().Perm())
	}

	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "shop", "iss": "https://idp.example", "aud": "safereset",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims, hdr map[string]any) string {
		tok := jwt.NewWithClaims(m, c)
		for k, v := range hdr {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hs := func(c jwt.MapClaims) string { return sign(jwt.SigningMethodHS256, secret, c, nil) }
	valid := hs(claims(nil))
	parts := strings.Split(valid, ".")
	payload, _ := json.Marshal(claims(func(c jwt.MapClaims) { c["sub"] = "admin" }))

	ok, er800, er801 := safereset.Code(""), safereset.ER800, safereset.ER801
	for _, tc := range []struct {
		name  string
		token string
		want  safereset.Code
	}{
		{"ValidHS256", valid, ok},
		{"ValidRS256", sign(jwt.SigningMethodRS256, rsaKey, claims(nil), nil), ok},
		{"ValidES256", sign(jwt.SigningMethodES256, ecKey, claims(nil), nil), ok},
		{"AudArray", hs(claims(func(c jwt.MapClaims) { c["aud"] = []string{"other", "safereset"} })), ok},
		{"Expired", hs(claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), er801},
		{"ExpiredBadSignature", hs(claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() }))[:len(valid)-4] + "AAAA", er800},
		{"ExpiredWrongIssuer", hs(claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix(); c["iss"] = "evil" })), er800},
		{"AlgNone", b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", er800},
		{"AlgNoneUpper", b64(`{"alg":"NONE","typ":"JWT"}`) + "." + parts[1] + ".", er800},
		{"AlgNoneLibrary", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil), nil), er800},
		{"HS256WithRSAPublicKey", sign(jwt.SigningMethodHS256, rsaPEM, claims(nil), nil), er800},
		{"WrongRSAKey", sign(jwt.SigningMethodRS256, otherRSA, claims(nil), nil), er800},
		{"WrongSecret", sign(jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), claims(nil), nil), er800},
		{"TamperedPayload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2], er800},
		{"EmbeddedJWK", sign(jwt.SigningMethodHS256, secret, claims(nil), map[string]any{"jwk": map[string]string{"kty": "oct", "k": "AAAA"}}), er800},
		{"JKU", sign(jwt.SigningMethodRS256, rsaKey, claims(nil), map[string]any{"jku": "https://evil.example/jwks"}), er800},
		{"X5U", sign(jwt.SigningMethodRS256, rsaKey, claims(nil), map[string]any{"x5u": "https://evil.example/cert"}), er800},
		{"UnknownKid", sign(jwt.SigningMethodRS256, rsaKey, claims(nil), map[string]any{"kid": "nope"}), er800},
		{"WrongIssuer", hs(claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), er800},
		{"WrongAudience", hs(claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), er800},
		{"FutureNbf", hs(claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), er800},
		{"MissingExp", hs(claims(func(c jwt.MapClaims) { delete(c, "exp") })), er800},
		{"MissingSub", hs(claims(func(c jwt.MapClaims) { delete(c, "sub") })), er800},
		{"Garbage", "a.b.c", er800},
		{"Huge", "ey" + strings.Repeat("A", 12<<10), er800},
	} {
		for _, method := range []string{"POST", "PATCH"} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				r := s.do(method, "/api/v1/user/reset-password", map[string]string{"Authorization": "Bearer " + tc.token}, `{}`)
				if tc.want == ok {
					if r.Status != 400 { // authenticated; the empty body then fails its field rules
						t.Fatalf("want authenticated, got %d %v", r.Status, r.Codes())
					}
					return
				}
				if r.Status != 401 || !sameCodes(r.Codes(), tc.want) {
					t.Fatalf("got %d %v, want 401 %s", r.Status, r.Codes(), tc.want)
				}
			})
		}
	}

	// The whole flow works with a JWT, and its subject is the client on the
	// log line.
	r := s.do("POST", "/api/v1/user/reset-password", map[string]string{"Authorization": "Bearer " + valid}, `{"emailAddress":"alice@example.com"}`)
	if r.Status != 202 {
		t.Fatalf("POST with JWT: %d", r.Status)
	}
	tok := s.waitToken(alice, 1)
	body, _ := json.Marshal(map[string]string{"emailAddress": alice, "password": strongPW, "passwordVerify": strongPW, "token": tok})
	if r := s.do("PATCH", "/api/v1/user/reset-password", map[string]string{"Authorization": "bearer  " + valid}, string(body)); r.Status != 204 {
		t.Fatalf("PATCH with JWT: %d %v", r.Status, r.Codes())
	}
	if !strings.Contains(s.Log.String(), `"client":"jwt:shop"`) {
		t.Error("JWT subject missing from the request log")
	}
	if strings.Contains(s.Log.String(), parts[2]) {
		t.Error("a JWT signature reached the log")
	}
}

// TestJWT_IssueAndCutOff: `jwt issue` mints a working token; a restart
// with --jwt-not-before revokes every token issued before it.
func TestJWT_IssueAndCutOff(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	out, errs, code := cli(t, s, "", "jwt", "issue", "--subject", "billing", "--ttl", "10m")
	tok := strings.TrimSpace(out)
	if code != 0 || strings.Count(tok, ".") != 2 {
		t.Fatalf("jwt issue: %d %q %q", code, out, errs)
	}
	if r := s.do("POST", "/api/v1/user/reset-password", map[string]string{"Authorization": "Bearer " + tok}, `{"emailAddress":"a@example.com"}`); r.Status != 202 {
		t.Fatalf("issued token rejected: %d %v", r.Status, r.Codes())
	}
	if _, errs, code := cli(t, s, "", "jwt", "issue", "--subject", "x", "--ttl", "1000h"); code == 0 || !strings.Contains(errs, "ttl") {
		t.Fatalf("absurd ttl accepted: %q", errs)
	}
	s.Stop()
	time.Sleep(1100 * time.Millisecond) // the cut-off has one-second precision, like iat
	cut := time.Now().UTC().Format(time.RFC3339)
	s2 := startServer(t, dir, "--jwt-not-before", cut)
	if r := s2.do("POST", "/api/v1/user/reset-password", map[string]string{"Authorization": "Bearer " + tok}, `{}`); r.Status != 401 || !sameCodes(r.Codes(), safereset.ER800) {
		t.Fatalf("token from before the cut-off: %d %v", r.Status, r.Codes())
	}
	out, _, _ = cli(t, s2, "", "jwt", "issue", "--subject", "billing")
	if r := s2.do("POST", "/api/v1/user/reset-password", map[string]string{"Authorization": "Bearer " + strings.TrimSpace(out)}, `{}`); r.Status != 400 {
		t.Fatalf("fresh token after the cut-off: %d %v", r.Status, r.Codes())
	}
}

// TestJWT_ShortSecretRefused: a configured secret under 256 bits stops start-up.
func TestJWT_ShortSecretRefused(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(f, []byte("too-short"), 0o600)
	_, errs, code := cli(t, nil, "", "serve", "--data-dir", t.TempDir(), "--addr", freePort(t), "--admin-addr", freePort(t), "--jwt-secret-file", f)
	if code == 0 || !strings.Contains(errs, "jwt") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("short secret: %d %q", code, errs)
	}
}
