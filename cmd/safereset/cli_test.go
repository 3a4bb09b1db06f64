package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cli runs one safereset command against s and returns stdout, stderr and
// the exit code main would use.
func cli(t *testing.T, s *testServer, stdin string, args ...string) (string, string, int) {
	t.Helper()
	env := map[string]string{}
	if s != nil {
		env["SAFERESET_ADMIN_URL"] = s.Admin
		env["SAFERESET_ADMIN_TOKEN"] = s.Token
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"safereset"}, args...), func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errb)
	code := 0
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		if ee.msg != "" {
			errb.WriteString("safereset: " + ee.msg + "\n")
		}
	default:
		code = 1
		errb.WriteString("safereset: " + oneLine(err.Error()) + "\n")
	}
	return out.String(), errb.String(), code
}

func TestCLI_UsersAndKeys(t *testing.T) {
	s := startServer(t, "")
	if out, errs, code := cli(t, s, oldPW+"\n", "user", "add", alice); code != 0 || !strings.Contains(out, "created user") {
		t.Fatalf("user add: %d %q %q", code, out, errs)
	}
	if _, errs, code := cli(t, s, oldPW+"\n", "user", "add", alice); code != 1 || !strings.Contains(errs, "already exists") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("duplicate user add: %d %q", code, errs)
	}
	if out, _, code := cli(t, s, oldPW+"\r\n", "user", "verify", "ALICE@example.com"); code != 0 || out != "match\n" {
		t.Fatalf("verify: %d %q", code, out)
	}
	if out, _, code := cli(t, s, "wrong-password\n", "user", "verify", alice); code != 1 || out != "no match\n" {
		t.Fatalf("verify wrong: %d %q", code, out)
	}

	// Import: one bad line does not stop the rest.
	file := filepath.Join(t.TempDir(), "users.jsonl")
	lines := `{"emailAddress":"i1@example.com","password":"Imported-Passw0rd-1"}
{"emailAddress":"i2@example.com","passwordHash":"$2a$04$4M1pj1pO6WGrJ2SP8ZCvMOpJ9sS3e4Xk3MiM3vVIv4ZKpd8WhT/1S"}
not json
{"emailAddress":"bad","password":"Imported-Passw0rd-3"}
{"emailAddress":"i4@example.com","password":"Imported-Passw0rd-4"}
`
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := cli(t, s, "", "user", "import", file)
	if code != 1 || !strings.Contains(out, "imported 3, skipped 0") || !strings.Contains(out, "failed 2") ||
		!strings.Contains(errs, "line 3:") || !strings.Contains(errs, "line 4:") {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	if !s.verify("i4@example.com", "Imported-Passw0rd-4") {
		t.Fatal("imported user does not verify")
	}
	if out, _, code := cli(t, s, "", "user", "delete", "i4@example.com"); code != 0 || out != "deleted\n" {
		t.Fatalf("delete: %d %q", code, out)
	}
	if _, errs, code := cli(t, s, "", "user", "delete", "i4@example.com"); code != 1 || !strings.Contains(errs, "no user") {
		t.Fatalf("delete again: %d %q", code, errs)
	}

	out, _, code = cli(t, s, "", "apikey", "create", "shop")
	key := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(key, "sr_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("apikey create: %d %q", code, out)
	}
	if r := s.post(key, alice); r.Status != 202 {
		t.Fatalf("new key rejected: %d", r.Status)
	}
	out, _, _ = cli(t, s, "", "apikey", "list")
	if !strings.Contains(out, "shop") || strings.Contains(out, key) {
		t.Fatalf("apikey list: %q", out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if _, errs, code := cli(t, s, "", "apikey", "revoke", id); code != 0 {
		t.Fatalf("revoke: %q", errs)
	}
	if r := s.post(key, alice); r.Status != 401 {
		t.Fatalf("revoked key accepted: %d", r.Status)
	}

	// Backup: a consistent copy that opens and holds the users.
	backup := filepath.Join(t.TempDir(), "backup.tar.gz")
	if out, errs, code := cli(t, s, "", "backup", "--data-dir", s.DataDir, backup); code != 0 || !strings.Contains(out, "users;") {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	if _, errs, code := cli(t, s, "", "backup", "--data-dir", s.DataDir, backup); code == 0 || !strings.Contains(errs, "exists") {
		t.Fatalf("backup over an existing file: %d %q", code, errs)
	}
}

// TestCLI_BadInput: one clear line on stderr and a non-zero exit, never a
// stack trace.
func TestCLI_BadInput(t *testing.T) {
	s := startServer(t, "")
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"NoCommand", "", nil, "no command"},
		{"UnknownCommand", "", []string{"frobnicate"}, "unknown command"},
		{"UnknownFlag", "", []string{"serve", "--nope"}, "flag provided but not defined"},
		{"BadDuration", "", []string{"serve", "--token-ttl", "forever"}, "invalid value"},
		{"LogFlushNegative", "", []string{"serve", "--log-flush", "-1s"}, "--log-flush must be between 0 and 10s"},
		{"LogFlushTooLong", "", []string{"serve", "--log-flush", "11s"}, "--log-flush must be between 0 and 10s"},
		{"UserNoArg", "", []string{"user", "add"}, "exactly one argument"},
		{"UserNoPassword", "", []string{"user", "add", "x@example.com"}, "no password on stdin"},
		{"UserBadEmail", "Passw0rd-long-enough\n", []string{"user", "add", "not-an-email"}, "not a valid address"},
		{"UserShortPassword", "short\n", []string{"user", "add", "y@example.com"}, "8 to 64"},
		{"UserBadHash", "", []string{"user", "add", "z@example.com", "--password-hash", "$md5$abc"}, "PHC"},
		{"ImportMissingFile", "", []string{"user", "import", "/nonexistent/file"}, "no such file"},
		{"RevokeUnknown", "", []string{"apikey", "revoke", "k_nope"}, "no api key"},
		{"KeyBadName", "", []string{"apikey", "create", "bad name\nINJECT"}, "name must be"},
		{"JWTNoSubject", "", []string{"jwt", "issue"}, "--subject"},
		{"BreachNoArgs", "", []string{"breach"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := cli(t, s, tc.stdin, tc.args...)
			if code == 0 {
				t.Fatalf("exit 0; stderr %q", errs)
			}
			if strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("stderr is not one line containing %q: %q", tc.want, errs)
			}
			if strings.Contains(errs, "goroutine") || strings.Contains(errs, "panic") {
				t.Fatalf("stack trace on stderr: %q", errs)
			}
		})
	}
	// No server: a clear line naming the address.
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"safereset", "apikey", "list", "--admin-url", "http://127.0.0.1:1"},
		func(k string) string {
			if k == "SAFERESET_ADMIN_TOKEN" {
				return strings.Repeat("t", 40)
			}
			return ""
		}, strings.NewReader(""), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("unreachable server: %v", err)
	}
}

// TestCLI_ImportLargeFile: a file larger than one request is sent in
// chunks, and a failed line is reported with its number in the whole file.
func TestCLI_ImportLargeFile(t *testing.T) {
	s := startServer(t, "")
	var b strings.Builder
	const n = 450
	for i := 1; i <= n; i++ {
		if i == 321 {
			b.WriteString("{broken\n")
			continue
		}
		b.WriteString(`{"emailAddress":"bulk` + strings.Repeat("x", i%7) + itoa(i) + `@example.com","passwordHash":"$2a$04$4M1pj1pO6WGrJ2SP8ZCvMOpJ9sS3e4Xk3MiM3vVIv4ZKpd8WhT/1S"}` + "\n")
	}
	out, errs, code := cli(t, s, b.String(), "user", "import", "-")
	if code != 1 || !strings.Contains(out, "imported 449, skipped 0") || strings.TrimSpace(strings.Split(errs, "\n")[0]) != "line 321: failed: not valid JSON (syntax error at byte 2); want a JSON object with emailAddress and password or passwordHash" {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestServe_RefusesBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"--token-ttl", "0s"}, {"--token-ttl", "-1h"}, {"--hash-concurrency", "0"}, {"--min-strength", "5"},
		{"--argon2-memory", "1"}, {"--rate-ip", "3-X"}, {"--trusted-proxies", "10.0.0.0/99"},
		{"--smtp-url", "http://mail.example"}, {"--reset-url", "javascript:alert(1)"}, {"--log-format", "xml"},
		{"--jwt-not-before", "yesterday"}, {"--jwt-algorithms", "none"},
	} {
		dir := t.TempDir()
		_, errs, code := cli(t, nil, "", append([]string{"serve", "--data-dir", dir, "--addr", freePort(t), "--admin-addr", freePort(t)}, args...)...)
		if code == 0 || strings.Count(errs, "\n") != 1 || strings.Contains(errs, "goroutine") {
			t.Errorf("%v: %d %q", args, code, errs)
		}
	}
}

func TestCLI_Version(t *testing.T) {
	out, _, code := cli(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "safereset ") || strings.Count(out, "\n") != 1 {
		t.Fatalf("version: %d %q", code, out)
	}
}

// TestServe_MailTemplates: --mail-templates overrides the built-in text
// template; a template without the link or token is refused at start.
func TestServe_MailTemplates(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token.txt"), []byte("ACME custom mail for {{.Email}}: {{.Link}}\n"), 0o600)
	s := startServer(t, "", "--mail-templates", dir)
	s.addUser(alice, oldPW)
	key := s.apiKey("tpl")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	found := false
	entries, _ := os.ReadDir(filepath.Join(s.DataDir, "outbox"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(s.DataDir, "outbox", e.Name()))
		if strings.Contains(string(b), "ACME custom mail for alice@example.com") && strings.Contains(string(b), tok) {
			found = true
		}
	}
	if !found {
		t.Fatal("custom template not used")
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "token.txt"), []byte("no link here\n"), 0o600)
	_, errs, code := cli(t, nil, "", "serve", "--data-dir", t.TempDir(), "--addr", freePort(t), "--admin-addr", freePort(t), "--mail-templates", bad)
	if code == 0 || !strings.Contains(errs, "template") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("template without link: %d %q", code, errs)
	}
}
