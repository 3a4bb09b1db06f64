package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/safereset/safereset/internal/secretfile"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret in its text form.
const SecretPrefix = "whsec_"

// SecretFileName is the generated secret's file in the data directory.
const SecretFileName = "webhook.secret"

// secretLen is the size of a generated key; Standard Webhooks asks for 24
// to 64 bytes.
const secretLen = 32

// ErrSecret is returned for a secret that is not "whsec_" and base64 of
// 24 to 64 bytes.
var ErrSecret = errors.New("webhook secret must be whsec_ followed by base64 of 24 to 64 bytes")

// Signer signs deliveries with one secret.
type Signer struct {
	key []byte
}

// ParseSecret returns a Signer for a secret in its text form
// ("whsec_<base64>"; surrounding space is ignored).
func ParseSecret(s string) (*Signer, error) {
	s = strings.TrimSpace(s)
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, ErrSecret
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, ErrSecret
	}
	return &Signer{key: key}, nil
}

// Key returns a copy of the signing key, the form PostgreSQL keeps it in.
func (s *Signer) Key() []byte { return append([]byte(nil), s.key...) }

// Secret returns the secret in its text form, the form of the file.
func (s *Signer) Secret() string { return SecretPrefix + base64.StdEncoding.EncodeToString(s.key) }

// NewSecret returns a fresh secret in its text form.
func NewSecret() (string, error) {
	key := make([]byte, secretLen)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// LoadSigner reads the secret from file, or, when file is empty, from
// dataDir's webhook.secret, generating that file (mode 0600) on first
// use. Several processes starting at once agree on one secret.
func LoadSigner(file, dataDir string) (*Signer, error) {
	var (
		raw []byte
		err error
	)
	if file != "" {
		raw, err = secretfile.Read(file)
	} else {
		file = filepath.Join(dataDir, SecretFileName)
		raw, err = secretfile.LoadOrCreate(file, func() ([]byte, error) {
			s, err := NewSecret()
			return []byte(s + "\n"), err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	s, err := ParseSecret(string(raw))
	if err != nil {
		return nil, fmt.Errorf("webhook secret %s: %w", file, err)
	}
	return s, nil
}

// Sign returns the webhook-signature value for one attempt: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body", timestamp in Unix seconds.
func (s *Signer) Sign(id string, ts time.Time, body []byte) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// NewSigner returns a Signer for a raw key of 24 to 64 bytes; its text
// form for receivers is SecretPrefix and the key in standard base64.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 24 || len(key) > 64 {
		return nil, ErrSecret
	}
	return &Signer{key: bytes.Clone(key)}, nil
}
