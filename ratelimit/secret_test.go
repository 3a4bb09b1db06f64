package ratelimit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/safereset/safereset/ratelimit"
)

func TestLoadOrCreateSecret(t *testing.T) {
	t.Run("CreatesThenLoads", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		first, err := ratelimit.LoadOrCreateSecret(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) != ratelimit.MinSecretLen || bytes.Equal(first, make([]byte, ratelimit.MinSecretLen)) {
			t.Fatalf("secret %x: want %d random bytes", first, ratelimit.MinSecretLen)
		}
		fi, err := os.Stat(filepath.Join(dir, ratelimit.SecretFile))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("key file mode %v, want 0600", perm)
		}
		again, err := ratelimit.LoadOrCreateSecret(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("second call returned a different secret")
		}
	})
	t.Run("DistinctPerDir", func(t *testing.T) {
		a, err := ratelimit.LoadOrCreateSecret(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		b, err := ratelimit.LoadOrCreateSecret(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, b) {
			t.Fatal("two data dirs got the same secret")
		}
	})
	for _, size := range []int{0, 16, 31, 33, 64} {
		t.Run("WrongSize", func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, ratelimit.SecretFile)
			content := bytes.Repeat([]byte{'k'}, size)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ratelimit.LoadOrCreateSecret(dir)
			if !errors.Is(err, ratelimit.ErrBadSecretFile) {
				t.Fatalf("%d-byte file: err = %v, want ErrBadSecretFile", size, err)
			}
			if size > 0 && bytes.Contains([]byte(err.Error()), content) {
				t.Errorf("error text shows the key: %v", err)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, content) {
				t.Error("refused file was changed")
			}
		})
	}
	t.Run("Unreadable", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, ratelimit.SecretFile), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := ratelimit.LoadOrCreateSecret(dir); err == nil {
			t.Fatal("a directory in place of the key file was accepted")
		}
	})
}
