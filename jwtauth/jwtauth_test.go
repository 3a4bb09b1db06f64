package jwtauth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/jwtauth"
)

const (
	testIssuer   = "https://idp.example.test"
	testAudience = "safereset"
)

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fixture holds real keys, the PEM and JWKS files written from them, and
// the Config that trusts them.
type fixture struct {
	secret []byte
	// Keys in the PEM file (named by thumbprint).
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey
	edKey  ed25519.PrivateKey
	// Keys in the JWKS file, with kids "rsa-1", "ec-1", "ed-1".
	jwksRSA *rsa.PrivateKey
	jwksEC  *ecdsa.PrivateKey
	jwksEd  ed25519.PrivateKey
	// An attacker's keys, trusted nowhere.
	evilRSA *rsa.PrivateKey
	evilEC  *ecdsa.PrivateKey
	// rsaPEM is the RSA public key's PEM text, as an attacker could fetch it.
	rsaPEM []byte
	cfg    jwtauth.Config
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{
		secret:  mustRandom(t, 32),
		rsaKey:  mustRSA(t, 2048),
		ecKey:   mustEC(t),
		edKey:   mustEd(t),
		jwksRSA: mustRSA(t, 2048),
		jwksEC:  mustEC(t),
		jwksEd:  mustEd(t),
		evilRSA: mustRSA(t, 2048),
		evilEC:  mustEC(t),
	}
	f.rsaPEM = pemPublic(t, &f.rsaKey.PublicKey)
	pemFile := filepath.Join(dir, "keys.pem")
	pemText := append(append(append([]byte(nil), f.rsaPEM...), pemPublic(t, &f.ecKey.PublicKey)...), pemPublic(t, f.edKey.Public())...)
	mustWrite(t, pemFile, pemText)

	jwksFile := filepath.Join(dir, "keys.jwks")
	mustWrite(t, jwksFile, mustJSON(t, map[string]any{"keys": []any{
		jwkOf(t, &f.jwksRSA.PublicKey, "rsa-1", map[string]any{"use": "sig", "alg": "RS256"}),
		jwkOf(t, &f.jwksEC.PublicKey, "ec-1", nil),
		jwkOf(t, f.jwksEd.Public(), "ed-1", map[string]any{"key_ops": []string{"verify"}}),
		// An encryption key, as IdP key sets often carry; it is skipped.
		jwkOf(t, &f.evilRSA.PublicKey, "enc-1", map[string]any{"use": "enc"}),
	}}))

	f.cfg = jwtauth.Config{
		HS256Secret:   f.secret,
		PublicKeyFile: pemFile,
		JWKSFile:      jwksFile,
		Issuer:        testIssuer,
		Audience:      testAudience,
		NotBefore:     testNow.Add(-2 * time.Hour),
		Now:           func() time.Time { return testNow },
	}
	return f
}

func mustNew(t testing.TB, cfg jwtauth.Config) *jwtauth.Verifier {
	t.Helper()
	v, err := jwtauth.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func mustRandom(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEC(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEd(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemPublic(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func mustWrite(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var b64 = base64.RawURLEncoding.EncodeToString

// jwkOf renders a public key as a JWK with extra members merged in.
func jwkOf(t testing.TB, pub any, kid string, extra map[string]any) map[string]any {
	t.Helper()
	m := map[string]any{}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		raw, err := pub.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	default:
		t.Fatalf("jwkOf: %T", pub)
	}
	if kid != "" {
		m["kid"] = kid
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// goodClaims are claims every check accepts, changed by mods; a nil value
// deletes the claim.
func goodClaims(mods map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "client-a",
		"iat": testNow.Add(-time.Minute).Unix(),
		"nbf": testNow.Add(-time.Minute).Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
		"jti": "id-1",
	}
	for k, v := range mods {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign builds a token with golang-jwt itself; header values of nil delete
// the header.
func sign(t testing.TB, m jwt.SigningMethod, key any, hdr map[string]any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for k, v := range hdr {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// handBuilt assembles a token from raw parts, for what golang-jwt refuses
// to sign.
func handBuilt(t testing.TB, hdr map[string]any, c jwt.MapClaims, sig string) string {
	t.Helper()
	return b64(mustJSON(t, hdr)) + "." + b64(mustJSON(t, c)) + "." + sig
}

func thumb(t testing.TB, pub any) string {
	t.Helper()
	tp, err := jwtauth.Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

type outcome int

const (
	valid outcome = iota
	invalid
	expired
)

func (o outcome) String() string {
	return [...]string{"valid", "invalid (ER800)", "expired (ER801)"}[o]
}

func TestVerify_Tokens(t *testing.T) {
	f := newFixture(t)
	main := mustNew(t, f.cfg)

	hsOnlyCfg := f.cfg
	hsOnlyCfg.Algorithms = []string{jwtauth.AlgHS256}
	hsOnly := mustNew(t, hsOnlyCfg)

	pubOnlyCfg := f.cfg
	pubOnlyCfg.HS256Secret = nil
	pubOnly := mustNew(t, pubOnlyCfg)

	hs := jwt.SigningMethodHS256
	rs := jwt.SigningMethodRS256
	es := jwt.SigningMethodES256
	ed := jwt.SigningMethodEdDSA
	expiredClaims := goodClaims(map[string]any{"exp": testNow.Add(-time.Minute).Unix()})

	tests := []struct {
		name     string
		verifier *jwtauth.Verifier // nil: main
		token    string
		want     outcome
		reason   string // substring of the error, when it matters to the log
	}{
		// Accepted.
		{name: "HS256", token: sign(t, hs, f.secret, nil, goodClaims(nil)), want: valid},
		{name: "RS256 PEM without kid", token: sign(t, rs, f.rsaKey, nil, goodClaims(nil)), want: valid},
		{name: "RS256 PEM with thumbprint kid", token: sign(t, rs, f.rsaKey, map[string]any{"kid": thumb(t, &f.rsaKey.PublicKey)}, goodClaims(nil)), want: valid},
		{name: "ES256 PEM", token: sign(t, es, f.ecKey, nil, goodClaims(nil)), want: valid},
		{name: "EdDSA PEM", token: sign(t, ed, f.edKey, nil, goodClaims(nil)), want: valid},
		{name: "RS256 JWKS kid", token: sign(t, rs, f.jwksRSA, map[string]any{"kid": "rsa-1"}, goodClaims(nil)), want: valid},
		{name: "ES256 JWKS kid", token: sign(t, es, f.jwksEC, map[string]any{"kid": "ec-1"}, goodClaims(nil)), want: valid},
		{name: "EdDSA JWKS kid", token: sign(t, ed, f.jwksEd, map[string]any{"kid": "ed-1"}, goodClaims(nil)), want: valid},
		{name: "ES256 JWKS key without kid", token: sign(t, es, f.jwksEC, nil, goodClaims(nil)), want: valid},
		{name: "aud array containing ours", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"aud": []string{"other", testAudience}})), want: valid},
		{name: "exp within leeway", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": testNow.Add(-10 * time.Second).Unix()})), want: valid},
		{name: "nbf within leeway", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"nbf": testNow.Add(10 * time.Second).Unix()})), want: valid},
		{name: "typ absent", token: sign(t, hs, f.secret, map[string]any{"typ": nil}, goodClaims(nil)), want: valid},
		{name: "public-only verifier RS256", verifier: pubOnly, token: sign(t, rs, f.rsaKey, nil, goodClaims(nil)), want: valid},

		// alg none and unknown algs.
		// NumericDate is a JSON number (RFC 7519 §2): golang-jwt alone
		// takes a numeric string or null.
		{name: "exp as string", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": strconv.FormatInt(testNow.Add(time.Hour).Unix(), 10)})), want: invalid, reason: "not a JSON number"},
		{name: "nbf as string", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"nbf": strconv.FormatInt(testNow.Add(-time.Minute).Unix(), 10)})), want: invalid, reason: "not a JSON number"},
		{name: "iat as string", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"iat": strconv.FormatInt(testNow.Add(-time.Minute).Unix(), 10)})), want: invalid, reason: "not a JSON number"},
		{name: "expired exp as string", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": strconv.FormatInt(testNow.Add(-time.Hour).Unix(), 10)})), want: invalid, reason: "not a JSON number"},
		{name: "exp null", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": json.RawMessage("null")})), want: invalid},
		{name: "iat true", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"iat": true})), want: invalid, reason: "not a JSON number"},
		{name: "nbf object", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"nbf": map[string]any{"n": 1}})), want: invalid, reason: "not a JSON number"},
		{name: "exp array", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": []int64{testNow.Add(time.Hour).Unix()}})), want: invalid, reason: "not a JSON number"},
		{name: "exp fractional number", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": float64(testNow.Add(time.Hour).Unix()) + 0.5})), want: valid},
		{name: "alg none", token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, goodClaims(nil)) + "AAAA", want: invalid, reason: "alg not allowed"},
		{name: "alg none empty signature", token: handBuilt(t, map[string]any{"alg": "none", "typ": "JWT"}, goodClaims(nil), ""), want: invalid},
		{name: "alg None", token: handBuilt(t, map[string]any{"alg": "None", "typ": "JWT"}, goodClaims(nil), "AAAA"), want: invalid, reason: "alg not allowed"},
		{name: "alg NONE", token: handBuilt(t, map[string]any{"alg": "NONE"}, goodClaims(nil), "AAAA"), want: invalid},
		{name: "alg nOnE", token: handBuilt(t, map[string]any{"alg": "nOnE"}, goodClaims(nil), "AAAA"), want: invalid},
		{name: "alg missing", token: handBuilt(t, map[string]any{"typ": "JWT"}, goodClaims(nil), "AAAA"), want: invalid},
		{name: "alg hs256 lower case", token: handBuilt(t, map[string]any{"alg": "hs256"}, goodClaims(nil), "AAAA"), want: invalid},
		{name: "HS512 with the right secret", token: sign(t, jwt.SigningMethodHS512, f.secret, nil, goodClaims(nil)), want: invalid, reason: "alg not allowed"},
		{name: "ES384 not allowed", token: handBuilt(t, map[string]any{"alg": "ES384"}, goodClaims(nil), "AAAA"), want: invalid},

		// Algorithm confusion and key selection.
		{name: "HS256 signed with RSA public key PEM", token: sign(t, hs, f.rsaPEM, nil, goodClaims(nil)), want: invalid, reason: "signature"},
		{name: "HS256 signed with RSA public key PEM, kid of RSA key", token: sign(t, hs, f.rsaPEM, map[string]any{"kid": thumb(t, &f.rsaKey.PublicKey)}, goodClaims(nil)), want: invalid},
		{name: "HS256 signed with RSA PEM on public-only verifier", verifier: pubOnly, token: sign(t, hs, f.rsaPEM, nil, goodClaims(nil)), want: invalid, reason: "alg not allowed"},
		{name: "RS256 when only HS256 allowed", verifier: hsOnly, token: sign(t, rs, f.rsaKey, nil, goodClaims(nil)), want: invalid, reason: "alg not allowed"},
		{name: "RS256 signed by the JWKS RSA key named as the EC kid", token: sign(t, rs, f.jwksRSA, map[string]any{"kid": "ec-1"}, goodClaims(nil)), want: invalid, reason: "unknown kid"},
		{name: "unknown kid", token: sign(t, rs, f.jwksRSA, map[string]any{"kid": "rsa-2"}, goodClaims(nil)), want: invalid, reason: "unknown kid"},
		{name: "kid of the skipped encryption key", token: sign(t, rs, f.evilRSA, map[string]any{"kid": "enc-1"}, goodClaims(nil)), want: invalid, reason: "unknown kid"},
		{name: "kid not a string", token: sign(t, rs, f.jwksRSA, map[string]any{"kid": 1}, goodClaims(nil)), want: invalid},
		{name: "HS256 with a kid", token: sign(t, hs, f.secret, map[string]any{"kid": "anything"}, goodClaims(nil)), want: invalid, reason: "unknown kid"},
		{name: "RS256 attacker key", token: sign(t, rs, f.evilRSA, nil, goodClaims(nil)), want: invalid, reason: "signature"},
		{name: "ES256 attacker key with a JWKS kid", token: sign(t, es, f.evilEC, map[string]any{"kid": "ec-1"}, goodClaims(nil)), want: invalid},

		// Embedded keys and key locations.
		{name: "jwk header with attacker key", token: sign(t, rs, f.evilRSA, map[string]any{"jwk": jwkOf(t, &f.evilRSA.PublicKey, "", nil)}, goodClaims(nil)), want: invalid, reason: "header embeds"},
		{name: "jwk header on an otherwise valid token", token: sign(t, rs, f.rsaKey, map[string]any{"jwk": jwkOf(t, &f.rsaKey.PublicKey, "", nil)}, goodClaims(nil)), want: invalid},
		{name: "jku header", token: sign(t, rs, f.rsaKey, map[string]any{"jku": "https://evil.test/jwks.json"}, goodClaims(nil)), want: invalid, reason: "header embeds"},
		{name: "x5u header", token: sign(t, rs, f.rsaKey, map[string]any{"x5u": "https://evil.test/cert.pem"}, goodClaims(nil)), want: invalid},
		{name: "x5c header", token: sign(t, es, f.ecKey, map[string]any{"x5c": []string{"MIIB"}}, goodClaims(nil)), want: invalid},
		{name: "crit header", token: sign(t, hs, f.secret, map[string]any{"crit": []string{"exp"}}, goodClaims(nil)), want: invalid},

		// Tampering.
		{name: "tampered payload", token: tamperPayload(t, sign(t, hs, f.secret, nil, goodClaims(nil))), want: invalid, reason: "signature"},
		{name: "tampered signature", token: tamperSignature(sign(t, hs, f.secret, nil, goodClaims(nil))), want: invalid},
		{name: "tampered ES256 signature", token: tamperSignature(sign(t, es, f.ecKey, nil, goodClaims(nil))), want: invalid},
		{name: "wrong secret", token: sign(t, hs, mustRandom(t, 32), nil, goodClaims(nil)), want: invalid, reason: "signature"},
		{name: "signature stripped", token: strings.TrimRightFunc(sign(t, hs, f.secret, nil, goodClaims(nil)), func(r rune) bool { return r != '.' }), want: invalid},
		{name: "padded base64", token: padded(sign(t, hs, f.secret, nil, goodClaims(nil))), want: invalid},

		// Claims.
		{name: "wrong iss", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"iss": "https://evil.test"})), want: invalid, reason: "issuer"},
		{name: "missing iss", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"iss": nil})), want: invalid},
		{name: "wrong aud", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"aud": "other"})), want: invalid, reason: "audience"},
		{name: "aud array without ours", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"aud": []string{"a", "b"}})), want: invalid},
		{name: "missing aud", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"aud": nil})), want: invalid},
		{name: "future nbf", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"nbf": testNow.Add(time.Minute).Unix()})), want: invalid, reason: "not valid yet"},
		{name: "missing exp", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": nil})), want: invalid, reason: "exp claim missing"},
		{name: "exp a string", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": "tomorrow"})), want: invalid},
		{name: "iat in the future", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"iat": testNow.Add(time.Minute).Unix()})), want: invalid, reason: "before issued"},
		{name: "iat before cut-off", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"iat": testNow.Add(-3 * time.Hour).Unix()})), want: invalid, reason: "cut-off"},
		{name: "missing iat with cut-off", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"iat": nil})), want: invalid, reason: "iat claim missing"},
		{name: "empty sub", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"sub": ""})), want: invalid, reason: "sub claim missing"},
		{name: "missing sub", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"sub": nil})), want: invalid},
		{name: "sub with a newline", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"sub": "a\nlevel=admin"})), want: invalid, reason: "sub claim too long"},
		{name: "sub too long", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"sub": strings.Repeat("s", 129)})), want: invalid},

		// Expiry: ER801 only when nothing else is wrong.
		{name: "expired", token: sign(t, hs, f.secret, nil, expiredClaims), want: expired},
		{name: "expired ES256 JWKS", token: sign(t, es, f.jwksEC, map[string]any{"kid": "ec-1"}, expiredClaims), want: expired},
		{name: "expired and bad signature", token: sign(t, hs, mustRandom(t, 32), nil, expiredClaims), want: invalid},
		{name: "expired and tampered payload", token: tamperPayload(t, sign(t, hs, f.secret, nil, expiredClaims)), want: invalid},
		{name: "expired with wrong iss", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": testNow.Add(-time.Minute).Unix(), "iss": "https://evil.test"})), want: invalid},
		{name: "expired with wrong aud", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": testNow.Add(-time.Minute).Unix(), "aud": "other"})), want: invalid},
		{name: "expired with empty sub", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": testNow.Add(-time.Minute).Unix(), "sub": ""})), want: invalid},
		{name: "expired and before cut-off", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"exp": testNow.Add(-time.Minute).Unix(), "iat": testNow.Add(-3 * time.Hour).Unix()})), want: invalid},
		{name: "expired with alg not allowed", verifier: hsOnly, token: sign(t, rs, f.rsaKey, nil, expiredClaims), want: invalid},
		{name: "expired with unknown kid", token: sign(t, rs, f.jwksRSA, map[string]any{"kid": "rsa-2"}, expiredClaims), want: invalid},
		{name: "expired with jku", token: sign(t, rs, f.rsaKey, map[string]any{"jku": "https://evil.test/"}, expiredClaims), want: invalid},

		// Size and garbage.
		{name: "1 MiB token", token: "eyJ" + strings.Repeat("A", 1<<20) + ".eyJ.AAAA", want: invalid, reason: "longer than 8192"},
		{name: "valid token over 8 KiB", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"pad": strings.Repeat("p", 8<<10)})), want: invalid, reason: "longer than 8192"},
		{name: "valid token of 7 KiB", token: sign(t, hs, f.secret, nil, goodClaims(map[string]any{"pad": strings.Repeat("p", 5<<10)})), want: valid},
		{name: "empty", token: "", want: invalid},
		{name: "one segment", token: "abcdef", want: invalid},
		{name: "two segments", token: "abc.def", want: invalid},
		{name: "four segments", token: "a.b.c.d", want: invalid},
		{name: "dots only", token: "..", want: invalid},
		{name: "Bearer prefix left on", token: "Bearer " + sign(t, hs, f.secret, nil, goodClaims(nil)), want: invalid},
		{name: "white space", token: sign(t, hs, f.secret, nil, goodClaims(nil)) + " ", want: invalid},
		{name: "not base64", token: "ey!.ey!.ey!", want: invalid},
		{name: "header not JSON", token: b64([]byte("not json")) + "." + b64([]byte("{}")) + ".AAAA", want: invalid, reason: "malformed"},
		{name: "header JSON array", token: b64([]byte("[1,2]")) + "." + b64([]byte("{}")) + ".AAAA", want: invalid},
		{name: "claims null", token: handBuilt(t, map[string]any{"alg": "HS256"}, nil, "AAAA"), want: invalid},
		{name: "NUL bytes", token: "\x00\x00.\x00.\x00", want: invalid},
		{name: "non-ASCII", token: "ñ.ñ.ñ", want: invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.verifier
			if v == nil {
				v = main
			}
			sub, err := v.Verify(tt.token)
			got := valid
			switch {
			case errors.Is(err, safereset.ErrAuthInvalid) && errors.Is(err, safereset.ErrAuthExpired):
				t.Fatalf("error wraps both ER800 and ER801: %v", err)
			case errors.Is(err, safereset.ErrAuthInvalid):
				got = invalid
			case errors.Is(err, safereset.ErrAuthExpired):
				got = expired
			case err != nil:
				t.Fatalf("error wraps neither ER800 nor ER801: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Verify = %v (err %v), want %v", got, err, tt.want)
			}
			if got == valid {
				if sub != "client-a" {
					t.Errorf("subject = %q, want client-a", sub)
				}
				return
			}
			if sub != "" {
				t.Errorf("subject = %q on failure, want empty", sub)
			}
			if tt.reason != "" && !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not name the reason %q", err, tt.reason)
			}
			assertNoTokenIn(t, err.Error(), tt.token)
		})
	}
}

// assertNoTokenIn fails when msg quotes any segment of token.
func assertNoTokenIn(t *testing.T, msg, token string) {
	t.Helper()
	for _, seg := range strings.Split(token, ".") {
		if len(seg) > 64 {
			seg = seg[:64]
		}
		if len(seg) >= 6 && strings.Contains(msg, seg) {
			t.Errorf("error %q contains token text %q", msg, seg)
		}
	}
}

// tamperPayload swaps the payload for one naming another subject, keeping
// the original header and signature.
func tamperPayload(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	c["sub"] = "admin"
	parts[1] = b64(mustJSON(t, c))
	return strings.Join(parts, ".")
}

// tamperSignature changes one character in the middle of the signature.
func tamperSignature(token string) string {
	i := strings.LastIndexByte(token, '.') + (len(token)-strings.LastIndexByte(token, '.'))/2
	c := byte('A')
	if token[i] == 'A' {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}

// padded re-encodes every segment with base64 padding.
func padded(token string) string {
	parts := strings.Split(token, ".")
	for i, p := range parts {
		raw, _ := base64.RawURLEncoding.DecodeString(p)
		parts[i] = base64.URLEncoding.EncodeToString(raw)
	}
	return strings.Join(parts, ".")
}

func TestVerify_HugeTokenDoesNotAllocate(t *testing.T) {
	f := newFixture(t)
	v := mustNew(t, f.cfg)
	huge := strings.Repeat("A", 1<<20)
	garbage := strings.Repeat("\xff", 4<<10)
	for name, tok := range map[string]string{"1 MiB": huge, "4 KiB garbage": garbage} {
		allocs := testing.AllocsPerRun(10, func() {
			if _, err := v.Verify(tok); !errors.Is(err, safereset.ErrAuthInvalid) {
				t.Fatalf("Verify(%s) = %v, want ER800", name, err)
			}
		})
		if allocs != 0 {
			t.Errorf("Verify(%s) made %v allocations, want 0", name, allocs)
		}
	}
}

func TestVerify_Concurrent(t *testing.T) {
	f := newFixture(t)
	v := mustNew(t, f.cfg)
	tokens := []string{
		sign(t, jwt.SigningMethodHS256, f.secret, nil, goodClaims(nil)),
		sign(t, jwt.SigningMethodES256, f.jwksEC, map[string]any{"kid": "ec-1"}, goodClaims(nil)),
		sign(t, jwt.SigningMethodEdDSA, f.edKey, nil, goodClaims(nil)),
	}
	bad := sign(t, jwt.SigningMethodHS256, mustRandom(t, 32), nil, goodClaims(nil))
	start := make(chan struct{})
	errs := make(chan error, 8*50)
	for g := 0; g < 8; g++ {
		go func() {
			<-start
			for i := 0; i < 50; i++ {
				if _, err := v.Verify(tokens[(g+i)%len(tokens)]); err != nil {
					errs <- err
					continue
				}
				if _, err := v.Verify(bad); !errors.Is(err, safereset.ErrAuthInvalid) {
					errs <- errors.New("bad token accepted")
					continue
				}
				errs <- nil
			}
		}()
	}
	close(start)
	for i := 0; i < 8*50; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
