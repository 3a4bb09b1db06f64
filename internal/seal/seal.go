// Package seal encrypts values safereset must store but nobody may read at
// rest (outbox payloads that carry reset and lock tokens), with
// XChaCha20-Poly1305 under a key kept outside the database.
//
// # Caveats
//
// A sealed value is bound to its additional data (the outbox entry id):
// moving a sealed payload to another entry makes Open fail. A database or
// backup without the key reveals lengths, not contents.
package seal

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of a sealing key.
const KeySize = chacha20poly1305.KeySize

// Overhead is how many bytes Seal adds to a plaintext.
const Overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// ErrOpen is returned by Open for a value that was not sealed with this
// key and additional data, or was changed since.
var ErrOpen = errors.New("seal: cannot open sealed value (wrong key, wrong entry or tampered)")

// Box seals and opens values under one key. It is safe for concurrent use.
type Box struct{ aead cipher.AEAD }

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Box{aead: aead}, nil
}

// NewKey returns a fresh random key.
func NewKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// Seal returns nonce || ciphertext of plaintext, bound to aad.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, chacha20poly1305.NonceSizeX, Overhead+len(plaintext))
	if _, err := rand.Read(out); err != nil {
		panic("seal: crypto/rand failed: " + err.Error()) // rand.Read does not fail on supported platforms
	}
	return b.aead.Seal(out, out, plaintext, aad)
}

// Open returns the plaintext of a value Seal returned for the same aad.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, ErrOpen
	}
	n := chacha20poly1305.NonceSizeX
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
