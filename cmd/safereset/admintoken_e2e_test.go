package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// adminStatus is the status of GET /admin/v1/apikeys with token.
func adminStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/admin/v1/apikeys", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// runBinary runs the real binary with args and only PATH in its
// environment, and returns stdout, stderr and the exit code.
func runBinary(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func readToken(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestBinary_AdminTokenRotate: `admin-token rotate` switches the running
// server (same process, no restart) to a new token it wrote into its data
// dir; without --overlap the old token is refused at once, with it both
// work and only the token just replaced overlaps; --offline plus SIGHUP
// does the same for a file written beside a running server.
func TestBinary_AdminTokenRotate(t *testing.T) {
	p := startBinary(t, "")
	tokPath := filepath.Join(p.DataDir, adminTokenFile)
	pid := p.cmd.Process.Pid
	t0 := p.Token
	if adminStatus(t, p.Admin, t0) != 200 {
		t.Fatal("the generated token is not accepted")
	}
	rotate := func(extra ...string) (string, string) {
		t.Helper()
		out, errs, code := runBinary(t, append([]string{"admin-token", "rotate", "--admin-url", p.Admin, "--data-dir", p.DataDir}, extra...)...)
		if code != 0 {
			t.Fatalf("rotate %v: exit %d: %s", extra, code, errs)
		}
		return out, errs
	}

	out, _ := rotate()
	t1 := readToken(t, tokPath)
	if t1 == t0 || len(t1) < 32 || strings.Contains(out, t1) || !strings.Contains(out, "refused from now") {
		t.Fatalf("rotate: token %d chars, same=%v, output %q", len(t1), t1 == t0, out)
	}
	if adminStatus(t, p.Admin, t1) != 200 || adminStatus(t, p.Admin, t0) != 401 {
		t.Fatal("after rotate the new token must work and the old one be refused")
	}
	if fi, err := os.Stat(tokPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi.Mode(), err)
	}

	out, errs := rotate("--overlap", "1h", "--print")
	t2 := readToken(t, tokPath)
	if strings.TrimSpace(out) != t2 || !strings.Contains(errs, "works until") {
		t.Fatalf("--print: stdout %q, stderr %q", out, errs)
	}
	if adminStatus(t, p.Admin, t2) != 200 || adminStatus(t, p.Admin, t1) != 200 || adminStatus(t, p.Admin, t0) != 401 {
		t.Fatal("with --overlap the new and the replaced token must work, older ones not")
	}
	rotate()
	t3 := readToken(t, tokPath)
	if adminStatus(t, p.Admin, t3) != 200 || adminStatus(t, p.Admin, t2) != 401 || adminStatus(t, p.Admin, t1) != 401 {
		t.Fatal("a rotation without overlap must end every older token")
	}

	out, errs, code := runBinary(t, "admin-token", "rotate", "--offline", "--data-dir", p.DataDir)
	if code != 0 || !strings.Contains(out, "SIGHUP") {
		t.Fatalf("--offline: %d %q %q", code, out, errs)
	}
	t4 := readToken(t, tokPath)
	if adminStatus(t, p.Admin, t3) != 200 || adminStatus(t, p.Admin, t4) != 401 {
		t.Fatal("an offline rotation must not change the running server before SIGHUP")
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return adminStatus(t, p.Admin, t4) == 200 }, "SIGHUP to take the new token")
	if adminStatus(t, p.Admin, t3) != 401 {
		t.Fatal("after SIGHUP the old token must be refused")
	}

	// A bad overlap is a usage error, and the old token still works.
	if _, errs, code := runBinary(t, "admin-token", "rotate", "--admin-url", p.Admin, "--data-dir", p.DataDir, "--overlap", "48h"); code != 2 || strings.Count(errs, "\n") != 1 {
		t.Fatalf("--overlap 48h: %d %q", code, errs)
	}
	if adminStatus(t, p.Admin, t4) != 200 || p.cmd.Process.Pid != pid || p.cmd.ProcessState != nil {
		t.Fatal("the server restarted or lost its token")
	}
	if strings.Contains(p.Log.String(), t4) || strings.Contains(p.Log.String(), t1) {
		t.Fatal("an admin token reached the log")
	}
}

// TestBinary_AdminTokenFileReload: with --admin-token-file the operator
// owns the token, so rotate through the API is refused (409, exit 1, the
// token unchanged); replacing the file and sending SIGHUP switches the
// running server, and a broken file keeps the token in use.
func TestBinary_AdminTokenFileReload(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "admin-token")
	old := strings.Repeat("o", 40)
	os.WriteFile(tokFile, []byte(old+"\n"), 0o600)
	p := startBinary(t, "", "--admin-token-file", tokFile)
	if adminStatus(t, p.Admin, old) != 200 {
		t.Fatal("token from --admin-token-file refused")
	}
	cmd := exec.Command(binary(t), "admin-token", "rotate", "--admin-url", p.Admin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SAFERESET_ADMIN_TOKEN=" + old}
	b, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), "--admin-token-file") || err == nil {
		t.Fatalf("rotate against a file the operator owns: %d %q", cmd.ProcessState.ExitCode(), b)
	}
	if adminStatus(t, p.Admin, old) != 200 || readToken(t, tokFile) != old {
		t.Fatal("a refused rotation changed the token")
	}

	// A file too short to be a token: SIGHUP keeps the old one.
	os.WriteFile(tokFile, []byte("short\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(p.Log.String(), "admin token reload on SIGHUP failed") }, "the failed reload to be logged")
	if adminStatus(t, p.Admin, old) != 200 {
		t.Fatal("a broken token file replaced the token in use")
	}

	next := strings.Repeat("n", 40)
	os.WriteFile(tokFile, []byte(next+"\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return adminStatus(t, p.Admin, next) == 200 }, "SIGHUP to take the new token")
	if adminStatus(t, p.Admin, old) != 401 {
		t.Fatal("the replaced token still works after SIGHUP")
	}
}
