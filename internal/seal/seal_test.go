package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/safereset/safereset/internal/seal"
)

func mustBox(t *testing.T) *seal.Box {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := seal.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBox(t *testing.T) {
	b := mustBox(t)
	plain := []byte("token=0123456789abcdef0123456789abcdef")
	sealed := b.Seal(plain, []byte("entry-1"))
	if bytes.Contains(sealed, plain) || bytes.Contains(sealed, []byte("0123456789abcdef")) {
		t.Fatal("sealed value contains the plaintext")
	}
	if len(sealed) != len(plain)+seal.Overhead {
		t.Fatalf("len %d, want %d", len(sealed), len(plain)+seal.Overhead)
	}
	got, err := b.Open(sealed, []byte("entry-1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if again := b.Seal(plain, []byte("entry-1")); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one plaintext are equal: nonce reused")
	}
	t.Run("WrongAAD", func(t *testing.T) {
		if _, err := b.Open(sealed, []byte("entry-2")); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("err = %v, want ErrOpen", err)
		}
	})
	t.Run("WrongKey", func(t *testing.T) {
		if _, err := mustBox(t).Open(sealed, []byte("entry-1")); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("err = %v, want ErrOpen", err)
		}
	})
	t.Run("Tampered", func(t *testing.T) {
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		if _, err := b.Open(bad, []byte("entry-1")); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("err = %v, want ErrOpen", err)
		}
	})
	t.Run("Short", func(t *testing.T) {
		if _, err := b.Open(sealed[:seal.Overhead-1], nil); !errors.Is(err, seal.ErrOpen) {
			t.Fatalf("err = %v, want ErrOpen", err)
		}
	})
	t.Run("BadKeySize", func(t *testing.T) {
		if _, err := seal.New(make([]byte, 16)); err == nil {
			t.Fatal("a 16-byte key was accepted")
		}
	})
}
