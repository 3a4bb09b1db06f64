package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

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
	return withPrefix("admin-token "+sub, runAdminTokenRotate(ctx, args, getenv, stdout, stderr))
}

// runAdminTokenRotate replaces the admin token. By default it asks the
// running server (authenticated by the current token), which writes the
// new token into its data dir and switches to it at once; --overlap keeps
// the old one valid a while. --offline writes <data-dir>/admin.token
// directly, for a stopped server (or one sent SIGHUP afterwards).
func runAdminTokenRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("admin-token rotate", stderr)
	af := addAdminFlags(fs, getenv)
	overlap := fs.Duration("overlap", 0, "how long the old token keeps working (0: refused at once; at most 24h)")
	offline := fs.Bool("offline", false, "write --data-dir's admin.token directly instead of asking the server (it takes the token at its next start or SIGHUP)")
	show := fs.Bool("print", false, "print the new token alone on stdout (for an operator without access to the data dir)")
	if err := parseFlags(fs, args, getenv, stdout); err != nil {
		return err
	}
	switch {
	case fs.NArg() != 0:
		return usageError("takes no arguments")
	case *overlap < 0 || *overlap > 24*time.Hour:
		return usageError("--overlap must be from 0s to 24h")
	case *offline && *overlap != 0:
		return usageError("--overlap needs the running server; --offline cannot keep the old token valid")
	}
	if *offline {
		return rotateAdminTokenOffline(af.dataDir, *show, stdout)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var out struct {
		Token              string  `json:"token"`
		PreviousValidUntil *string `json:"previousValidUntil"`
	}
	if err := c.do(ctx, http.MethodPost, "/admin/v1/admin-token/rotate", jsonBody(map[string]string{"overlap": overlap.String()}), &out); err != nil {
		return err
	}
	msg := stdout
	if *show {
		fmt.Fprintln(stdout, out.Token)
		msg = stderr
	}
	if out.PreviousValidUntil != nil {
		fmt.Fprintf(msg, "the server switched to a new admin token (in its data dir's admin.token); the old one works until %s\n", *out.PreviousValidUntil)
	} else {
		fmt.Fprintln(msg, "the server switched to a new admin token (in its data dir's admin.token); the old one is refused from now")
	}
	return nil
}

func rotateAdminTokenOffline(dataDir string, show bool, stdout io.Writer) error {
	path := filepath.Join(dataDir, adminTokenFile)
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
	if show {
		fmt.Fprint(stdout, string(tok))
		return nil
	}
	fmt.Fprintf(stdout, "wrote a new admin token to %s; a running server takes it on SIGHUP (systemctl reload), else at its next start\n", path)
	return nil
}

// adminTokenSource is where serve got its admin token. reread reads it
// again on SIGHUP (nil: SAFERESET_ADMIN_TOKEN, fixed until a restart);
// rotate generates, persists and returns a new one for the admin API (nil:
// the operator owns the source, so the API answers 409).
type adminTokenSource struct {
	name   string
	reread func() (string, error)
	rotate func() (string, error)
}

func newAdminTokenSource(c *serveConfig, getenv func(string) string) adminTokenSource {
	switch {
	case c.adminTokenFile != "":
		return adminTokenSource{name: c.adminTokenFile, reread: func() (string, error) { return readAdminToken(c.adminTokenFile) }}
	case getenv("SAFERESET_ADMIN_TOKEN") != "":
		return adminTokenSource{name: "SAFERESET_ADMIN_TOKEN"}
	}
	path := filepath.Join(c.dataDir, adminTokenFile)
	return adminTokenSource{
		name:   path,
		reread: func() (string, error) { return readAdminToken(path) },
		rotate: func() (string, error) {
			tok, err := newAdminToken()
			if err != nil {
				return "", err
			}
			if err := secretfile.Write(path, tok); err != nil {
				return "", err
			}
			return strings.TrimSpace(string(tok)), nil
		},
	}
}

// readAdminToken reads an existing admin token file (owner-only, at least
// 32 characters once trimmed).
func readAdminToken(path string) (string, error) {
	b, err := secretfile.Read(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("%s holds fewer than 32 characters", path)
	}
	return tok, nil
}

// reloadAdminToken re-reads the admin token file on SIGHUP. A changed
// token replaces the old one at once: whoever edits the file decides the
// switch, and the rotate API is there for an overlap. A file that cannot
// be read keeps the token in use.
func (s *service) reloadAdminToken(logger *slog.Logger) {
	if s.adminSource.reread == nil {
		logger.Info("admin token comes from SAFERESET_ADMIN_TOKEN; SIGHUP keeps it (restart to change it)")
		return
	}
	tok, err := s.adminSource.reread()
	if err == nil {
		err = s.adminTokens.Set(tok, 0)
	}
	if err != nil {
		logger.Error("admin token reload on SIGHUP failed; the token in use stays", "source", s.adminSource.name, "error", err.Error())
		return
	}
	logger.Info("admin token re-read on SIGHUP", "source", s.adminSource.name)
}
