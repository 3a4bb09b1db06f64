package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safereset/safereset/internal/secretfile"
)

// Key-file limits and names.
const (
	// KeyFileName is the file in Config.DataDir that holds the generated
	// HS256 secret: exactly SecretSize raw random bytes, mode 0600.
	KeyFileName = "jwt.key"
	// SecretSize is the size of a generated HS256 secret and the minimum
	// size of a configured one, in bytes (256 bits).
	SecretSize = 32

	// maxKeyFileSize bounds what is read from a PEM or JWKS file.
	maxKeyFileSize = 1 << 20
	// minRSABits and maxRSABits bound accepted RSA moduli: smaller keys are
	// weak, larger ones make every verification needlessly slow.
	minRSABits = 2048
	maxRSABits = 8192
)

// publicKey is one configured verification key.
type publicKey struct {
	kid string // JWKS "kid", else the RFC 7638 thumbprint
	alg string // the JWS alg this key verifies: RS256, ES256 or EdDSA
	key crypto.PublicKey
}

// loadOrCreateSecret returns the HS256 secret in dir/jwt.key, creating the
// directory and a fresh secret when the file does not exist yet. A key
// file others may read is refused.
func loadOrCreateSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFileName)
	secret, err := secretfile.LoadOrCreate(path, func() ([]byte, error) {
		b := make([]byte, SecretSize)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("jwtauth: HS256 secret: %w", err)
	}
	if len(secret) < SecretSize {
		return nil, fmt.Errorf("jwtauth: %s holds %d bytes, want at least %d; delete it to generate a new secret", path, len(secret), SecretSize)
	}
	return secret, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jwtauth: read %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("jwtauth: read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("jwtauth: %s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// loadPEM reads public keys from PEM blocks ("PUBLIC KEY" or "RSA PUBLIC
// KEY"). Each key's kid is its RFC 7638 thumbprint.
func loadPEM(path string) ([]publicKey, error) {
	rest, err := readLimited(path, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	var keys []publicKey
	for i := 0; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub any
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("jwtauth: %s: PEM block %d is a private key; give only public keys", path, i+1)
			}
			return nil, fmt.Errorf("jwtauth: %s: PEM block %d has type %q, want \"PUBLIC KEY\" or \"RSA PUBLIC KEY\"", path, i+1, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("jwtauth: %s: PEM block %d: %w", path, i+1, err)
		}
		k, err := newPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: %s: PEM block %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwtauth: %s: no PEM public key found", path)
	}
	return keys, nil
}

// newPublicKey checks a parsed key and names it by its thumbprint.
func newPublicKey(pub any) (publicKey, error) {
	k := publicKey{key: pub}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if err := checkRSA(pub); err != nil {
			return k, err
		}
		k.alg = "RS256"
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return k, fmt.Errorf("ECDSA curve %s is not supported, want P-256 (ES256)", pub.Curve.Params().Name)
		}
		k.alg = "ES256"
	case ed25519.PublicKey:
		k.alg = "EdDSA"
	default:
		return k, fmt.Errorf("key type %T is not supported, want RSA, ECDSA P-256 or Ed25519", pub)
	}
	tp, err := Thumbprint(pub)
	if err != nil {
		return k, err
	}
	k.kid = tp
	return k, nil
}

func checkRSA(pub *rsa.PublicKey) error {
	if n := pub.N.BitLen(); n < minRSABits || n > maxRSABits {
		return fmt.Errorf("RSA key has %d bits, want %d to %d", n, minRSABits, maxRSABits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return fmt.Errorf("RSA public exponent %d is not valid", pub.E)
	}
	return nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint (base64url SHA-256, no
// padding) of an RSA, ECDSA P-256 or Ed25519 public key: the kid a token
// must carry to name a key from Config.PublicKeyFile.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	// RFC 7638 §3.2: the required members only, in lexicographic order,
	// no white space. Every value is base64url, so no JSON escaping.
	var s string
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		e := big.NewInt(int64(pub.E)).Bytes()
		s = `{"e":"` + b64(e) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return "", errors.New("jwtauth: thumbprint: only the P-256 curve is supported")
		}
		raw, err := pub.Bytes() // 0x04 || X || Y, fixed-size coordinates
		if err != nil {
			return "", fmt.Errorf("jwtauth: thumbprint: %w", err)
		}
		s = `{"crv":"P-256","kty":"EC","x":"` + b64(raw[1:33]) + `","y":"` + b64(raw[33:]) + `"}`
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return "", errors.New("jwtauth: thumbprint: bad Ed25519 key size")
		}
		s = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`
	default:
		return "", fmt.Errorf("jwtauth: thumbprint: key type %T is not supported", pub)
	}
	sum := sha256.Sum256([]byte(s))
	return b64(sum[:]), nil
}

// jwk holds the members of a JSON Web Key that jwtauth reads. Private key
// members are captured only to refuse them.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"`
	K      string   `json:"k"`
}

// loadJWKS reads an RFC 7517 key set. Keys marked "use":"enc" are skipped;
// any other key jwtauth cannot use is an error, so a typo never silently
// leaves a key out.
func loadJWKS(path string) ([]publicKey, error) {
	b, err := readLimited(path, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("jwtauth: %s: not a JWKS document: %w", path, err)
	}
	var keys []publicKey
	seen := make(map[string]bool)
	for i, j := range set.Keys {
		if j.Use == "enc" {
			continue
		}
		k, err := parseJWK(j)
		if err != nil {
			return nil, fmt.Errorf("jwtauth: %s: key %d: %w", path, i+1, err)
		}
		if seen[k.kid] {
			return nil, fmt.Errorf("jwtauth: %s: key %d: duplicate kid %q", path, i+1, k.kid)
		}
		seen[k.kid] = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwtauth: %s: no signature key in \"keys\"", path)
	}
	return keys, nil
}

func parseJWK(j jwk) (publicKey, error) {
	if j.D != "" || j.K != "" {
		return publicKey{}, errors.New("holds private or symmetric key material; give only public keys")
	}
	if j.Use != "" && j.Use != "sig" {
		return publicKey{}, fmt.Errorf("use %q is not \"sig\"", j.Use)
	}
	if len(j.KeyOps) > 0 && !slices.Contains(j.KeyOps, "verify") {
		return publicKey{}, errors.New(`key_ops does not include "verify"`)
	}
	var pub any
	switch {
	case j.Kty == "RSA":
		n, err1 := decodeB64(j.N)
		e, err2 := decodeB64(j.E)
		if err := errors.Join(err1, err2); err != nil {
			return publicKey{}, fmt.Errorf("RSA key: %w", err)
		}
		if len(e) == 0 || len(e) > 4 || len(n) == 0 {
			return publicKey{}, errors.New("RSA key: bad n or e")
		}
		var eb [4]byte
		copy(eb[4-len(e):], e)
		ev := binary.BigEndian.Uint32(eb[:])
		if ev > 1<<31-1 {
			return publicKey{}, errors.New("RSA key: e too large")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ev)}
	case j.Kty == "EC" && j.Crv == "P-256":
		x, err1 := decodeB64(j.X)
		y, err2 := decodeB64(j.Y)
		if err := errors.Join(err1, err2); err != nil {
			return publicKey{}, fmt.Errorf("EC key: %w", err)
		}
		if len(x) != 32 || len(y) != 32 {
			return publicKey{}, errors.New("EC key: x and y must be 32 bytes each")
		}
		// ParseUncompressedPublicKey checks that the point is on the curve.
		ec, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return publicKey{}, fmt.Errorf("EC key: %w", err)
		}
		pub = ec
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		x, err := decodeB64(j.X)
		if err != nil {
			return publicKey{}, fmt.Errorf("OKP key: %w", err)
		}
		if len(x) != ed25519.PublicKeySize {
			return publicKey{}, errors.New("OKP key: x must be 32 bytes")
		}
		pub = ed25519.PublicKey(x)
	case j.Kty == "oct":
		return publicKey{}, errors.New(`symmetric ("oct") keys are not read from the JWKS file; configure the HS256 secret instead`)
	default:
		return publicKey{}, fmt.Errorf("kty %q crv %q is not supported, want RSA, EC P-256 or OKP Ed25519", j.Kty, j.Crv)
	}
	k, err := newPublicKey(pub)
	if err != nil {
		return k, err
	}
	if j.Alg != "" && j.Alg != k.alg {
		return k, fmt.Errorf("alg %q does not fit a %s key, want %q", j.Alg, j.Kty, k.alg)
	}
	if j.Kid != "" {
		k.kid = j.Kid
	}
	return k, nil
}

func decodeB64(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("member is not unpadded base64url")
	}
	return b, nil
}
