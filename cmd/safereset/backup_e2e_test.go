package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runBin runs the real binary with env and returns stdout, stderr and the
// exit code.
func runBin(t *testing.T, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// TestBinary_BackupRestoreRoundTrip: a backup taken from a running binary
// and restored into an empty directory serves the same users, passwords,
// API keys, JWTs and live reset tokens, and refuses a directory that is not
// empty.
func TestBinary_BackupRestoreRoundTrip(t *testing.T) {
	p := startBinary(t, "")
	env := []string{"SAFERESET_ADMIN_URL=" + p.Admin}
	p.addUser(alice, oldPW)
	p.addUser(bob, oldPW)
	key := p.apiKey("shop")
	jwtOut, errs, code := runBin(t, env, "", "jwt", "issue", "--subject", "shop", "--data-dir", p.DataDir)
	jwtTok := strings.TrimSpace(jwtOut)
	if code != 0 || strings.Count(jwtTok, ".") != 2 {
		t.Fatalf("jwt issue: %d %q %q", code, jwtOut, errs)
	}
	if r := p.do("POST", "/api/v1/user/reset-password", map[string]string{"Authorization": "Bearer " + jwtTok}, `{"emailAddress":"`+alice+`"}`); r.Status != 202 {
		t.Fatalf("JWT before backup: %d %s", r.Status, r.Body)
	}
	if r := p.post(key, bob); r.Status != 202 {
		t.Fatalf("token request: %d", r.Status)
	}
	liveToken := p.waitToken(bob, 1)

	archive := filepath.Join(t.TempDir(), "safereset.backup")
	out, errs, code := runBin(t, env, "", "backup", "--data-dir", p.DataDir, archive)
	if code != 0 || !strings.Contains(out, "database with 2 users") || !strings.Contains(out, "jwt.key") || !strings.Contains(out, "ratelimit.key") {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	fi, err := os.Stat(archive)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("archive mode: %v %v", fi.Mode(), err)
	}
	// The live token is not in this list: a sent token mail's bytes can
	// stay on bbolt's free pages, which a hot backup copies, until the
	// outbox seals mails at rest with outbox.key.
	checkArchiveSecrets(t, archive, []string{oldPW, key, jwtTok})
	if code := p.term(t); code != 0 {
		t.Fatalf("exit %d", code)
	}

	// Restore refuses a non-empty directory and leaves it alone.
	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "keep"), []byte("x"), 0o600)
	if _, errs, code := runBin(t, nil, "", "restore", "--data-dir", busy, archive); code != 1 || !strings.Contains(errs, "not empty") {
		t.Fatalf("restore into a busy dir: %d %q", code, errs)
	}
	if entries, _ := os.ReadDir(busy); len(entries) != 1 {
		t.Fatalf("restore touched a busy dir: %v", entries)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	out, errs, code = runBin(t, nil, "", "restore", archive, "--data-dir", restored)
	if code != 0 || !strings.Contains(out, "database with 2 users") {
		t.Fatalf("restore: %d %q %q", code, out, errs)
	}
	for _, name := range []string{dbFileName, "jwt.key", "ratelimit.key", "admin.token"} {
		fi, err := os.Stat(filepath.Join(restored, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s after restore: %v %v", name, err, fi)
		}
	}

	q := startBinary(t, restored)
	if q.Token != p.Token {
		t.Fatal("the restored admin token differs")
	}
	if !q.verify(alice, oldPW) {
		t.Fatal("password does not verify after restore")
	}
	if r := q.do("POST", "/api/v1/user/reset-password", map[string]string{"Authorization": "Bearer " + jwtTok}, `{"emailAddress":"`+alice+`"}`); r.Status != 202 {
		t.Fatalf("JWT after restore: %d %s", r.Status, r.Body)
	}
	if r := q.patch(key, bob, strongPW, strongPW, liveToken); r.Status != 204 {
		t.Fatalf("live token with the old API key after restore: %d %s", r.Status, r.Body)
	}
	if !q.verify(bob, strongPW) {
		t.Fatal("reset after restore did not take")
	}
	if code := q.term(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// checkArchiveSecrets: the archive holds the expected entries and none of
// the secrets a client or user knows in the clear.
func checkArchiveSecrets(t *testing.T, archive string, secrets []string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	var all bytes.Buffer
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		io.Copy(&all, tr)
	}
	if len(names) < 3 || names[0] != dbFileName {
		t.Fatalf("archive entries %v", names)
	}
	for i, s := range secrets {
		if bytes.Contains(all.Bytes(), []byte(s)) {
			b, _ := json.Marshal(names)
			t.Fatalf("the archive (%s) holds secret #%d in the clear", b, i)
		}
	}
}

// TestCLI_RestoreRejectsForeignArchives: an archive with an entry outside
// the known files, or not gzip at all, restores nothing.
func TestCLI_RestoreRejectsForeignArchives(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil.tgz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range []struct{ name, body string }{{dbFileName, "not a db"}, {"../escape", "x"}} {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	os.WriteFile(evil, buf.Bytes(), 0o600)
	plain := filepath.Join(dir, "plain.txt")
	os.WriteFile(plain, []byte("hello"), 0o600)
	for _, a := range []string{evil, plain} {
		target := filepath.Join(t.TempDir(), "r")
		_, errs, code := cli(t, nil, "", "restore", a, "--data-dir", target)
		if code != 1 || strings.Count(errs, "\n") != 1 {
			t.Fatalf("%s: %d %q", a, code, errs)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Fatalf("%s: restore left %s behind", a, target)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(target), "..", "escape")); err == nil {
			t.Fatal("an entry escaped the data dir")
		}
	}
}
