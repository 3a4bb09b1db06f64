package ratelimit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/safereset/safereset/internal/secretfile"
)

// SecretFile is the name of the HMAC key file in the data directory.
const SecretFile = "ratelimit.key"

// ErrBadSecretFile is returned by LoadOrCreateSecret for a key file that
// does not hold exactly MinSecretLen bytes.
var ErrBadSecretFile = errors.New("rate-limit secret file has the wrong size")

// LoadOrCreateSecret returns the HMAC key for address buckets from
// <dataDir>/ratelimit.key, creating the directory (mode 0700) and the file
// (MinSecretLen random bytes, mode 0600) when they do not exist; a file
// group or others may read is refused (secretfile.ErrTooOpen). A file of
// any other size is refused, never repaired: delete it to get a new key,
// which only resets the address buckets.
func LoadOrCreateSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, SecretFile)
	b, err := secretfile.LoadOrCreate(path, func() ([]byte, error) {
		b := make([]byte, MinSecretLen)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("ratelimit: secret: %w", err)
	}
	if len(b) != MinSecretLen {
		return nil, fmt.Errorf("ratelimit: secret %s holds %d bytes, want %d (delete it to generate a new one): %w", path, len(b), MinSecretLen, ErrBadSecretFile)
	}
	return b, nil
}
