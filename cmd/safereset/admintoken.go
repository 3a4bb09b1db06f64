package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"path/filepath"

	"github.com/safereset/safereset/internal/secretfile"
)

// adminTokenFile is the generated admin token in the data dir.
const adminTokenFile = "admin.token"

// newAdminToken returns 32 random bytes, hex-encoded, with a newline.
func newAdminToken() ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(raw) + "\n"), nil
}

func runAdminToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sub, args, ok, err := groupCommand("admin-token", args, stdout)
	if !ok {
		return err
	}
	return withPrefix("admin-token "+sub, runAdminTokenRotate(args, getenv, stdout, stderr))
}

// runAdminTokenRotate replaces <data-dir>/admin.token atomically. The
// running server keeps the token it read at start until it restarts; the
// public API does not depend on the admin token, so the restart only
// pauses the admin API.
func runAdminTokenRotate(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("admin-token rotate", stderr)
	dataDir := fs.String("data-dir", "./safereset-data", "data dir of the server whose admin.token to replace")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError("takes no arguments")
	}
	path := filepath.Join(*dataDir, adminTokenFile)
	if _, err := secretfile.Read(path); err != nil {
		return fmt.Errorf("%v (rotate replaces an existing token file; is --data-dir the server's?)", err)
	}
	tok, err := newAdminToken()
	if err != nil {
		return err
	}
	if err := secretfile.Write(path, tok); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote a new admin token to %s; restart the server to switch to it\n", path)
	return nil
}
