// Package secretfile reads and creates the owner-only key files safereset
// keeps beside its database: the admin token, the HS256 JWT key, the
// rate-limit HMAC key, the outbox sealing key and the webhook secret.
//
// # Caveats
//
// Permission checks are POSIX mode bits; on Windows they are skipped.
package secretfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// MaxSize is the largest key file Read accepts.
const MaxSize = 64 << 10

// ErrTooOpen is returned for a key file that its group or others may read.
var ErrTooOpen = errors.New("secret file is readable by group or others")

// Read returns the contents of the secret file at path. It refuses a file
// that is not a regular file, that group or others may read or write, or
// that is larger than MaxSize.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o (chmod 600 %s): %w", path, fi.Mode().Perm(), path, ErrTooOpen)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxSize)
	}
	return b, nil
}

// LoadOrCreate returns the contents of the secret file at path. When the
// file does not exist it creates the directory (mode 0700) and the file
// (mode 0600) holding what create returns.
//
// The file is written under a temporary name, synced and hard-linked into
// place, then the directory is synced: path either does not exist or is
// complete, even after a crash. When two processes start at once, the first
// link wins and both return its contents.
func LoadOrCreate(path string, create func() ([]byte, error)) ([]byte, error) {
	b, err := Read(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return b, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	secret, err := create()
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", path, err)
	}
	if len(secret) > MaxSize {
		return nil, fmt.Errorf("generate %s: %d bytes is larger than %d", path, len(secret), MaxSize)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := writeAndSync(tmp, secret); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return Read(path)
		}
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return secret, syncDir(dir)
}

// Write replaces the secret file at path with b atomically (temporary
// file, fsync, rename, directory fsync), for rotation.
func Write(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := writeAndSync(tmp, b); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func writeAndSync(f *os.File, b []byte) error {
	// CreateTemp already uses 0600; Chmod keeps that independent of the
	// platform's default.
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
