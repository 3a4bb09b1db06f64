package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestCLI_HelpEveryCommand: -h on every command and group prints its usage
// line, naming its positional arguments, on stdout, and exits 0.
func TestCLI_HelpEveryCommand(t *testing.T) {
	for _, c := range commands() {
		t.Run(c.path, func(t *testing.T) {
			args := append(strings.Fields(c.path), "-h")
			out, errs, code := cli(t, nil, "", args...)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			want := "usage: safereset " + strings.TrimSpace(c.path+" "+c.args)
			if !strings.HasPrefix(out, want) {
				t.Fatalf("stdout does not start with %q:\n%s", want, out)
			}
			if strings.Contains(out, "--breach-filter safereset") {
				t.Fatalf("a back-quoted word in a usage text was taken as the value name:\n%s", out)
			}
		})
	}
	for _, g := range groups() {
		t.Run(g+" -h", func(t *testing.T) {
			out, errs, code := cli(t, nil, "", g, "-h")
			if code != 0 || errs != "" || !strings.HasPrefix(out, "usage: safereset "+g+" <subcommand>") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
			}
			for _, s := range subcommands(g) {
				if !strings.Contains(out, g+" "+s) {
					t.Errorf("group help lacks %q", s)
				}
			}
		})
	}
}

// TestCLI_ExitCodes: usage errors exit 2, runtime failures exit 1, and
// every failure is one line starting "safereset: <command>:".
func TestCLI_ExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args   []string
		code   int
		prefix string
	}{
		{[]string{"frobnicate"}, 2, "safereset: unknown command"},
		{nil, 2, "safereset: no command"},
		{[]string{"serve", "--nope"}, 2, "safereset: serve:"},
		{[]string{"serve", "extra"}, 2, "safereset: serve:"},
		{[]string{"config"}, 2, "safereset: config:"},
		{[]string{"config", "check", "--token-ttl", "forever"}, 2, "safereset: config check:"},
		{[]string{"config", "check", "--token-ttl", "0s"}, 1, "safereset: config check:"},
		{[]string{"user"}, 2, "safereset: user:"},
		{[]string{"user", "frob"}, 2, "safereset: user:"},
		{[]string{"user", "add"}, 2, "safereset: user add:"},
		{[]string{"user", "add", "a@example.com", "b@example.com"}, 2, "safereset: user add:"},
		{[]string{"user", "delete", "a@example.com", "--data-dir", dir}, 1, "safereset: user delete:"},
		{[]string{"user", "import", "x", "--nope"}, 2, "safereset: user import:"},
		{[]string{"apikey"}, 2, "safereset: apikey:"},
		{[]string{"apikey", "list", "extra"}, 2, "safereset: apikey list:"},
		{[]string{"apikey", "create"}, 2, "safereset: apikey create:"},
		{[]string{"apikey", "create", "bad name"}, 2, "safereset: apikey create:"},
		{[]string{"apikey", "revoke"}, 2, "safereset: apikey revoke:"},
		{[]string{"apikey", "list", "--data-dir", dir}, 1, "safereset: apikey list:"},
		{[]string{"jwt"}, 2, "safereset: jwt:"},
		{[]string{"jwt", "issue"}, 2, "safereset: jwt issue:"},
		{[]string{"jwt", "issue", "--subject", "has space"}, 2, "safereset: jwt issue:"},
		{[]string{"jwt", "issue", "--subject", "shop", "--data-dir", dir}, 1, "safereset: jwt issue:"},
		{[]string{"jwt", "issue", "--ttl", "soon"}, 2, "safereset: jwt issue:"},
		{[]string{"admin-token"}, 2, "safereset: admin-token:"},
		{[]string{"admin-token", "rotate", "x"}, 2, "safereset: admin-token rotate:"},
		{[]string{"admin-token", "rotate", "--data-dir", dir}, 1, "safereset: admin-token rotate:"},
		{[]string{"breach"}, 2, "safereset: breach:"},
		{[]string{"breach", "build", "--out", "x"}, 2, "safereset: breach build:"},
		{[]string{"breach", "build", "--fpr", "lots"}, 2, "safereset: breach build:"},
		{[]string{"breach", "build", "--out", dir + "/f.bloom", dir + "/missing.txt"}, 1, "safereset: breach build:"},
		{[]string{"breach", "check", "pw"}, 2, "safereset: breach check:"},
		{[]string{"breach", "check", "--min-strength", "9"}, 2, "safereset: breach check:"},
		{[]string{"breach", "check", "--filter", dir + "/none.bloom"}, 1, "safereset: breach check:"},
		{[]string{"breach", "info"}, 2, "safereset: breach info:"},
		{[]string{"breach", "info", dir + "/none.bloom"}, 1, "safereset: breach info:"},
		{[]string{"backup"}, 2, "safereset: backup:"},
		{[]string{"backup", dir + "/out.tgz", "--data-dir", dir}, 1, "safereset: backup:"},
		{[]string{"restore"}, 2, "safereset: restore:"},
		{[]string{"restore", dir + "/none.tgz", "--data-dir", t.TempDir()}, 1, "safereset: restore:"},
		{[]string{"completion"}, 2, "safereset: completion:"},
		{[]string{"completion", "powershell"}, 2, "safereset: completion:"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errs, code := cli(t, nil, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tc.code, errs)
			}
			if !strings.HasPrefix(errs, tc.prefix) || strings.Count(errs, "\n") != 1 {
				t.Errorf("stderr is not one line starting %q: %q", tc.prefix, errs)
			}
			if strings.Contains(errs, "goroutine") || strings.Contains(errs, "panic") {
				t.Errorf("stack trace: %q", errs)
			}
		})
	}
}

// TestCLI_Completion: each shell's script names every command and
// subcommand, and bash and zsh can parse it when they are installed.
func TestCLI_Completion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			out, errs, code := cli(t, nil, "", "completion", shell)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			for _, c := range commands() {
				for _, w := range strings.Fields(c.path) {
					if !strings.Contains(out, w) {
						t.Errorf("%s script lacks %q", shell, w)
					}
				}
			}
			sh, err := exec.LookPath(shell)
			if err != nil {
				t.Logf("%s not installed: syntax of its script not checked", shell)
				return
			}
			check := exec.Command(sh, "-n")
			if shell == "fish" {
				check = exec.Command(sh, "--no-execute")
			}
			check.Stdin = strings.NewReader(out)
			if b, err := check.CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", shell, err, b)
			}
		})
	}
	t.Run("BashCompletes", func(t *testing.T) {
		bash, err := exec.LookPath("bash")
		if err != nil {
			t.Skip("bash not installed")
		}
		script, _, _ := cli(t, nil, "", "completion", "bash")
		cmd := exec.Command(bash, "-c", script+`
COMP_WORDS=(safereset apikey ""); COMP_CWORD=2; _safereset; echo "${COMPREPLY[*]}"
COMP_WORDS=(safereset us); COMP_CWORD=1; _safereset; echo "${COMPREPLY[*]}"`)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if got := string(b); got != "create list revoke\nuser\n" {
			t.Fatalf("completions %q", got)
		}
	})
}

func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-12-01T19:28:08Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := formatVersion("dev", bi), "v1.2.3, revision 0123456789abcdef0123456789abcdef01234567+modified 2026-12-01T19:28:08Z, go1.26.8"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := formatVersion("v9.9.9", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}), "v9.9.9, go1.26.8"; got != want {
		t.Errorf("ldflags version: got %q, want %q", got, want)
	}
}

// TestCLI_UnknownEnvWarning: a SAFERESET_* variable no flag reads is named
// in a warning by config check and serve, and its value is not printed.
func TestCLI_UnknownEnvWarning(t *testing.T) {
	t.Setenv("SAFERESET_RATE_IPS", "s3cret-value")
	t.Setenv("SAFERESET_RATE_IP", "5-M")
	out, errs, code := cli(t, nil, "", "config", "check")
	if code != 0 || out != "configuration ok\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if !strings.Contains(errs, "warning: unknown variable SAFERESET_RATE_IPS") || strings.Contains(errs, "SAFERESET_RATE_IP ") ||
		strings.Contains(errs, "s3cret") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("stderr %q", errs)
	}
	_, errs, code = cli(t, nil, "", "serve", "--data-dir", t.TempDir(), "--token-ttl", "0s")
	if code == 0 || !strings.Contains(errs, "safereset: serve: warning: unknown variable SAFERESET_RATE_IPS") {
		t.Fatalf("serve: exit %d, stderr %q", code, errs)
	}
}

// TestCLI_ConfigCheck: a bad value in each flag family is refused without
// starting anything, from the flag and from its env twin.
func TestCLI_ConfigCheck(t *testing.T) {
	for _, tc := range []struct{ flag, value string }{
		{"token-ttl", "0s"}, {"token-ttl", "forever"}, {"min-strength", "7"}, {"hash-concurrency", "0"},
		{"forwarded-header", "x-real-ip"}, {"mail-retry-base", "0s"}, {"max-conns-per-ip", "-1"},
		{"argon2-parallelism", "999"}, {"request-min-duration", "1m"},
	} {
		t.Run(tc.flag+"="+tc.value, func(t *testing.T) {
			dir := t.TempDir()
			_, errs, code := cli(t, nil, "", "config", "check", "--data-dir", dir, "--"+tc.flag, tc.value)
			if code == 0 || !strings.HasPrefix(errs, "safereset: config check:") || !strings.Contains(errs, tc.flag) {
				t.Fatalf("flag: exit %d, stderr %q", code, errs)
			}
			_, errs, code = cliEnv(t, map[string]string{envName(tc.flag): tc.value}, "config", "check", "--data-dir", dir)
			if code == 0 || !strings.Contains(errs, "config check:") {
				t.Fatalf("env: exit %d, stderr %q", code, errs)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("config check wrote into the data dir: %v", entries)
			}
		})
	}
}

// cliEnv runs one command with env as its whole environment.
func cliEnv(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"safereset"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	var ee exitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		if ee.msg != "" {
			errb.WriteString("safereset: " + ee.msg + "\n")
		}
		return out.String(), errb.String(), ee.code
	}
	errb.WriteString("safereset: " + oneLine(err.Error()) + "\n")
	return out.String(), errb.String(), 1
}

// TestServe_SecretFiles: --admin-token-file replaces the generated token,
// and --smtp-password-file fills in the password of --smtp-url; a bad file
// is refused at start in one line that quotes no secret.
func TestServe_SecretFiles(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "admin-token")
	tok := strings.Repeat("k", 40)
	os.WriteFile(tokFile, []byte(tok+"\n"), 0o600)
	s := startServerWithToken(t, tokFile)
	if s.admin("GET", "/admin/v1/apikeys", nil, nil) != 200 {
		t.Fatal("the token from --admin-token-file is not accepted")
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "admin.token")); err == nil {
		t.Fatal("admin.token generated although --admin-token-file was given")
	}

	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte(tok), 0o644)
	pw := filepath.Join(dir, "smtp-pw")
	os.WriteFile(pw, []byte("hunter2-smtp\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--admin-token-file", open}, "chmod 600"},
		{[]string{"--admin-token-file", filepath.Join(dir, "missing")}, "--admin-token-file"},
		{[]string{"--smtp-url", "smtp://mail.example:25", "--smtp-password-file", pw}, "name the user"},
		{[]string{"--smtp-url", "smtp://u:inline@mail.example:25", "--smtp-password-file", pw}, "not both"},
	} {
		_, errs, code := cli(t, nil, "", append([]string{"serve", "--data-dir", t.TempDir(), "--addr", freePort(t), "--admin-addr", freePort(t)}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 || strings.Contains(errs, "hunter2") || strings.Contains(errs, "inline") {
			t.Errorf("%v: %d %q", tc.args, code, errs)
		}
	}
	got, err := withSMTPPassword("smtp://user@mail.example:587", pw)
	if err != nil || got != "smtp://user:hunter2-smtp@mail.example:587" {
		t.Fatalf("withSMTPPassword: %q %v", got, err)
	}
}

// startServerWithToken starts serve with --admin-token-file.
func startServerWithToken(t *testing.T, tokFile string) *testServer {
	t.Helper()
	dataDir := t.TempDir()
	pub, ops := freePort(t), freePort(t)
	args := append([]string{"safereset", "serve", "--addr", pub, "--admin-addr", ops, "--data-dir", dataDir, "--admin-token-file", tokFile}, fastArgs...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{t: t, Base: "http://" + pub, Admin: "http://" + ops, DataDir: dataDir, Log: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, args, func(string) string { return "" }, strings.NewReader(""), io.Discard, s.Log)
	}()
	t.Cleanup(s.Stop)
	b, _ := os.ReadFile(tokFile)
	s.Token = strings.TrimSpace(string(b))
	waitFor(t, func() bool {
		resp, err := http.Get(s.Admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "readyz")
	return s
}

func TestSplitSecrets(t *testing.T) {
	first, prev := splitSecrets([]byte("  new-key-line \n\nold-key-1\r\nold-key-2\n"))
	if string(first) != "new-key-line" || len(prev) != 2 || string(prev[0]) != "old-key-1" || string(prev[1]) != "old-key-2" {
		t.Fatalf("first %q, previous %q", first, prev)
	}
}
