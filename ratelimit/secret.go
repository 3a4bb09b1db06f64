package ratelimit

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SecretFile is the name of the HMAC key file in the data directory.
const SecretFile = "ratelimit.key"

// ErrBadSecretFile is returned by LoadOrCreateSecret for a key file that
// does not hold exactly MinSecretLen bytes.
var ErrBadSecretFile = errors.New("rate-limit secret file has the wrong size")

// LoadOrCreateSecret returns the HMAC key for address buckets from
// <dataDir>/ratelimit.key, creating the directory (mode 0700) and the file
// (MinSecretLen random bytes, mode 0600) when they do not exist. A file of
// any other size is refused, never repaired: delete it to get a new key,
// which only resets the address buckets.
func LoadOrCreateSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, SecretFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = createSecret(dataDir, path)
		if errors.Is(err, fs.ErrExist) { // another process made it first
			b, err = os.ReadFile(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ratelimit: secret: %w", err)
	}
	if len(b) != MinSecretLen {
		return nil, fmt.Errorf("ratelimit: secret %s holds %d bytes, want %d (delete it to generate a new one): %w", path, len(b), MinSecretLen, ErrBadSecretFile)
	}
	return b, nil
}

func createSecret(dataDir, path string) (b []byte, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	b = make([]byte, MinSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path) // leave no half-written key behind
		}
	}()
	if _, err := f.Write(b); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	return b, nil
}
