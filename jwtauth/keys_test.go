package jwtauth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/jwtauth"
)

func fixedNow() time.Time { return testNow }

func TestNew_GeneratesKeyOnFirstStartAndReusesIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	first := mustNew(t, jwtauth.Config{DataDir: dir, Now: fixedNow})

	path := filepath.Join(dir, jwtauth.KeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not written: %v", err)
	}
	if runtime.GOOS != "windows" {
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("key file mode = %04o, want 0600", got)
		}
		di, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := di.Mode().Perm(); got != 0o700 {
			t.Errorf("data dir mode = %04o, want 0700", got)
		}
	}
	key, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != jwtauth.SecretSize {
		t.Fatalf("key file has %d bytes, want %d", len(key), jwtauth.SecretSize)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s (no temporary files left)", len(entries), jwtauth.KeyFileName)
	}

	tok, err := first.Issue("client-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	second := mustNew(t, jwtauth.Config{DataDir: dir, Now: fixedNow})
	if sub, err := second.Verify(tok); err != nil || sub != "client-a" {
		t.Fatalf("second start does not accept the first start's token: %q, %v", sub, err)
	}
	again, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(key) {
		t.Error("second start replaced the key file")
	}

	// The key really is the HS256 secret: a token signed with the file's
	// bytes verifies, one signed with other bytes does not.
	if _, err := second.Verify(sign(t, jwt.SigningMethodHS256, key, nil, goodClaimsNoIssAud())); err != nil {
		t.Errorf("token signed with jwt.key refused: %v", err)
	}
	if _, err := second.Verify(sign(t, jwt.SigningMethodHS256, mustRandom(t, 32), nil, goodClaimsNoIssAud())); !errors.Is(err, safereset.ErrAuthInvalid) {
		t.Errorf("token signed with another key: %v, want ER800", err)
	}
}

func goodClaimsNoIssAud() jwt.MapClaims {
	return goodClaims(map[string]any{"iss": nil, "aud": nil})
}

func TestNew_ConcurrentFirstStartsAgreeOnOneKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const n = 8
	start := make(chan struct{})
	type result struct {
		v   *jwtauth.Verifier
		err error
	}
	results := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			<-start
			v, err := jwtauth.New(jwtauth.Config{DataDir: dir, Now: fixedNow})
			results <- result{v, err}
		}()
	}
	close(start)
	var vs []*jwtauth.Verifier
	for i := 0; i < n; i++ {
		r := <-results
		if r.err != nil {
			t.Fatalf("New: %v", r.err)
		}
		vs = append(vs, r.v)
	}
	for i, issuer := range vs {
		tok, err := issuer.Issue("client-a", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for j, verifier := range vs {
			if _, err := verifier.Verify(tok); err != nil {
				t.Fatalf("verifier %d refuses verifier %d's token: %v", j, i, err)
			}
		}
	}
}

func TestNew_RefusesExposedKeyFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not enforced on Windows")
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, jwtauth.KeyFileName)
			mustWrite(t, path, mustRandom(t, 32))
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := jwtauth.New(jwtauth.Config{DataDir: dir})
			if err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("New with a %04o key file: %v, want a refusal naming chmod 600", mode, err)
			}
		})
	}
}

func TestNew_RefusesBadKeyFile(t *testing.T) {
	t.Run("Short", func(t *testing.T) {
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, jwtauth.KeyFileName), mustRandom(t, 31))
		if _, err := jwtauth.New(jwtauth.Config{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "31 bytes") {
			t.Fatalf("New with a 31-byte key file: %v, want a refusal", err)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, jwtauth.KeyFileName), nil)
		if _, err := jwtauth.New(jwtauth.Config{DataDir: dir}); err == nil {
			t.Fatal("New with an empty key file succeeded")
		}
	})
	t.Run("Directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, jwtauth.KeyFileName), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := jwtauth.New(jwtauth.Config{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("New with a directory as key file: %v, want a refusal", err)
		}
	})
}

func TestNew_ConfiguredSecret(t *testing.T) {
	t.Run("ShortRefused", func(t *testing.T) {
		for _, n := range []int{1, 16, 31} {
			_, err := jwtauth.New(jwtauth.Config{HS256Secret: mustRandom(t, n), DataDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), "at least 32") {
				t.Errorf("New with a %d-byte secret: %v, want a refusal", n, err)
			}
		}
	})
	t.Run("ReplacesKeyFile", func(t *testing.T) {
		dir := t.TempDir()
		secret := mustRandom(t, 48)
		v := mustNew(t, jwtauth.Config{HS256Secret: secret, DataDir: dir, Now: fixedNow})
		if _, err := os.Stat(filepath.Join(dir, jwtauth.KeyFileName)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("jwt.key written although a secret is configured: %v", err)
		}
		if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, secret, nil, goodClaimsNoIssAud())); err != nil {
			t.Errorf("token signed with the configured secret refused: %v", err)
		}
	})
	t.Run("CopiedAtNew", func(t *testing.T) {
		secret := mustRandom(t, 32)
		v := mustNew(t, jwtauth.Config{HS256Secret: secret, Now: fixedNow})
		tok := sign(t, jwt.SigningMethodHS256, secret, nil, goodClaimsNoIssAud())
		clear(secret) // the caller reusing its buffer must not change the key
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("Verify after the caller cleared its secret: %v", err)
		}
	})
}

func TestNew_PublicKeysOnlyDoNotCreateKeyFile(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	v := mustNew(t, jwtauth.Config{DataDir: dir, PublicKeyFile: f.cfg.PublicKeyFile, Algorithms: []string{jwtauth.AlgRS256}, Now: fixedNow})
	if _, err := os.Stat(filepath.Join(dir, jwtauth.KeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("jwt.key written although HS256 is not allowed: %v", err)
	}
	if _, err := v.Issue("client-a", time.Hour); !errors.Is(err, jwtauth.ErrIssueDisabled) {
		t.Errorf("Issue without HS256: %v, want ErrIssueDisabled", err)
	}
	if got := v.Algorithms(); !slices.Equal(got, []string{jwtauth.AlgRS256}) {
		t.Errorf("Algorithms() = %v, want [RS256]", got)
	}
}

func TestNew_DefaultAlgorithms(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		cfg  jwtauth.Config
		want []string
	}{
		{"data dir only", jwtauth.Config{DataDir: t.TempDir()}, []string{"HS256"}},
		{"secret and PEM", jwtauth.Config{HS256Secret: f.secret, PublicKeyFile: f.cfg.PublicKeyFile}, []string{"HS256", "RS256", "ES256", "EdDSA"}},
		{"JWKS only", jwtauth.Config{JWKSFile: f.cfg.JWKSFile}, []string{"RS256", "ES256", "EdDSA"}},
		{"explicit order kept", jwtauth.Config{HS256Secret: f.secret, JWKSFile: f.cfg.JWKSFile, Algorithms: []string{"ES256", "HS256", "ES256"}}, []string{"ES256", "HS256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustNew(t, tt.cfg).Algorithms(); !slices.Equal(got, tt.want) {
				t.Errorf("Algorithms() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNew_RefusesBadConfig(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	file := func(name string, content []byte) string {
		path := filepath.Join(dir, name)
		mustWrite(t, path, content)
		return path
	}
	jwksCount := 0
	jwks := func(keys ...map[string]any) string {
		jwksCount++
		return file(fmt.Sprintf("k%d.jwks", jwksCount), mustJSON(t, map[string]any{"keys": keys}))
	}
	ecJWK := jwkOf(t, &mustEC(t).PublicKey, "ec", nil)
	offCurve := jwkOf(t, &mustEC(t).PublicKey, "ec", nil)
	offCurve["y"] = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(f.rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range m {
			c[kk] = vv
		}
		c[k] = v
		return c
	}

	tests := []struct {
		name string
		cfg  jwtauth.Config
		want string // substring of the error
	}{
		{"no key at all", jwtauth.Config{}, "no key configured"},
		{"unknown algorithm", jwtauth.Config{DataDir: t.TempDir(), Algorithms: []string{"none"}}, `"none" is not supported`},
		{"HS384", jwtauth.Config{DataDir: t.TempDir(), Algorithms: []string{"HS384"}}, "not supported"},
		{"lower-case alg", jwtauth.Config{DataDir: t.TempDir(), Algorithms: []string{"hs256"}}, "not supported"},
		{"RS256 without RSA key", jwtauth.Config{DataDir: t.TempDir(), Algorithms: []string{"HS256", "RS256"}}, "no RS256 public key"},
		{"HS256 without secret or data dir", jwtauth.Config{PublicKeyFile: f.cfg.PublicKeyFile, Algorithms: []string{"HS256"}}, "neither an HS256 secret nor a data dir"},
		{"secret but HS256 not allowed", jwtauth.Config{HS256Secret: f.secret, PublicKeyFile: f.cfg.PublicKeyFile, Algorithms: []string{"RS256"}}, "HS256 is not in the algorithm allowlist"},
		{"negative leeway", jwtauth.Config{DataDir: t.TempDir(), Leeway: -time.Second}, "leeway"},
		{"leeway too large", jwtauth.Config{DataDir: t.TempDir(), Leeway: time.Hour}, "leeway"},
		{"future cut-off", jwtauth.Config{DataDir: t.TempDir(), Now: fixedNow, NotBefore: testNow.Add(2 * time.Second)}, "in the future"},
		{"missing PEM file", jwtauth.Config{PublicKeyFile: filepath.Join(dir, "absent.pem")}, "absent.pem"},
		{"PEM without keys", jwtauth.Config{PublicKeyFile: file("empty.pem", []byte("hello\n"))}, "no PEM public key"},
		{"PEM private key", jwtauth.Config{PublicKeyFile: file("priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}))}, "private key"},
		{"PEM certificate", jwtauth.Config{PublicKeyFile: file("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}))}, `"CERTIFICATE"`},
		{"PEM corrupt key", jwtauth.Config{PublicKeyFile: file("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}))}, "PEM block 1"},
		{"PEM P-384", jwtauth.Config{PublicKeyFile: file("p384.pem", pemPublic(t, &p384.PublicKey))}, "P-384"},
		{"PEM RSA 1024", jwtauth.Config{PublicKeyFile: file("rsa1024.pem", pemPublic(t, &mustRSA(t, 1024).PublicKey))}, "1024 bits"},
		{"PEM one good one bad", jwtauth.Config{PublicKeyFile: file("mixed.pem", append(append([]byte(nil), f.rsaPEM...), pemPublic(t, &p384.PublicKey)...))}, "PEM block 2"},
		{"JWKS not JSON", jwtauth.Config{JWKSFile: file("x.jwks", []byte("{"))}, "not a JWKS"},
		{"JWKS empty", jwtauth.Config{JWKSFile: jwks()}, "no signature key"},
		{"JWKS only enc keys", jwtauth.Config{JWKSFile: jwks(with(ecJWK, "use", "enc"))}, "no signature key"},
		{"JWKS private member", jwtauth.Config{JWKSFile: jwks(with(ecJWK, "d", "AAAA"))}, "private"},
		{"JWKS oct key", jwtauth.Config{JWKSFile: jwks(map[string]any{"kty": "oct", "k": "AAAA"})}, "private or symmetric"},
		{"JWKS oct key without k", jwtauth.Config{JWKSFile: jwks(map[string]any{"kty": "oct"})}, `"oct"`},
		{"JWKS P-384", jwtauth.Config{JWKSFile: jwks(with(ecJWK, "crv", "P-384"))}, "not supported"},
		{"JWKS bad base64", jwtauth.Config{JWKSFile: jwks(with(ecJWK, "x", "a+b/"))}, "base64url"},
		{"JWKS short coordinate", jwtauth.Config{JWKSFile: jwks(with(ecJWK, "x", "AAAA"))}, "32 bytes"},
		{"JWKS point off curve", jwtauth.Config{JWKSFile: jwks(offCurve)}, "EC key"},
		{"JWKS alg mismatch", jwtauth.Config{JWKSFile: jwks(with(ecJWK, "alg", "RS256"))}, `alg "RS256"`},
		{"JWKS use other", jwtauth.Config{JWKSFile: jwks(with(ecJWK, "use", "other"))}, "use"},
		{"JWKS key_ops without verify", jwtauth.Config{JWKSFile: jwks(with(ecJWK, "key_ops", []string{"sign"}))}, "key_ops"},
		{"JWKS duplicate kid", jwtauth.Config{JWKSFile: jwks(ecJWK, jwkOf(t, f.edKey.Public(), "ec", nil))}, "duplicate kid"},
		{"JWKS RSA 1024", jwtauth.Config{JWKSFile: jwks(jwkOf(t, &mustRSA(t, 1024).PublicKey, "r", nil))}, "1024 bits"},
		{"JWKS RSA even e", jwtauth.Config{JWKSFile: jwks(with(jwkOf(t, &f.rsaKey.PublicKey, "r", nil), "e", base64.RawURLEncoding.EncodeToString(big.NewInt(65536).Bytes())))}, "exponent"},
		{"same key in PEM and JWKS without kid", jwtauth.Config{PublicKeyFile: f.cfg.PublicKeyFile, JWKSFile: jwks(jwkOf(t, &f.rsaKey.PublicKey, "", nil))}, "names two configured keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := jwtauth.New(tt.cfg)
			if err == nil {
				t.Fatalf("New succeeded (algorithms %v), want an error containing %q", v.Algorithms(), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestNew_PastCutOffAccepted(t *testing.T) {
	// A cut-off within the current second is not "in the future".
	v := mustNew(t, jwtauth.Config{DataDir: t.TempDir(), Now: fixedNow, NotBefore: testNow})
	if _, err := v.Issue("client-a", time.Hour); err != nil {
		t.Fatal(err)
	}
}

func TestNew_PKCS1RSAPublicKey(t *testing.T) {
	k := mustRSA(t, 2048)
	path := filepath.Join(t.TempDir(), "rsa.pem")
	mustWrite(t, path, pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)}))
	v := mustNew(t, jwtauth.Config{PublicKeyFile: path, Now: fixedNow})
	if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, k, nil, goodClaimsNoIssAud())); err != nil {
		t.Fatalf("RS256 token with a PKCS #1 key: %v", err)
	}
}

func TestThumbprint(t *testing.T) {
	// Known answers from RFC 7638 §3.1 (RSA) and RFC 8037 appendix A.3 (Ed25519).
	n, err := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  any
		want string
	}{
		{"RFC 7638 RSA", &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 Ed25519", ed25519.PublicKey(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := thumb(t, tt.key); got != tt.want {
				t.Errorf("Thumbprint = %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("P-384 refused", func(t *testing.T) {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jwtauth.Thumbprint(&k.PublicKey); err == nil {
			t.Error("Thumbprint of a P-384 key succeeded")
		}
	})
}
