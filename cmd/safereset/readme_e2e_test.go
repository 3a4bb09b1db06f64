package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// walkThroughBlock returns the README's shell block that follows the
// marker comment naming this test.
func walkThroughBlock(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "run twice in a row by TestREADME_WalkThroughTwice")
	if !ok {
		t.Fatal("README: walk-through marker not found")
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README: no shell block after the walk-through marker")
	}
	return block
}

// TestREADME_WalkThroughTwice runs the README's walk-through, as written,
// twice in a row with bash and curl against the real binary (started as the
// README says, on free ports), in a directory laid out like a checkout:
// ./safereset and ./safereset-data. Each run must reset the password (204),
// verify it, and see the reused token refused with ER352.
func TestREADME_WalkThroughTwice(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found", tool)
			}
			t.Skipf("!!! %s not found: SKIPPING the README walk-through !!!", tool)
		}
	}
	block := walkThroughBlock(t)
	work := t.TempDir()
	bin, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "safereset"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, filepath.Join(work, "safereset-data"), "--rate-request-email", "0")
	for run := 1; run <= 2; run++ {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
		cmd.Dir = work
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work, "API=" + p.Base, "SAFERESET_ADMIN_URL=" + p.Admin}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s\nserver log:\n%s", run, err, out, p.Log.String())
		}
		o := string(out)
		for _, want := range []string{"HTTP/1.1 202", "HTTP/1.1 204", "match", `"ER352"`} {
			if !strings.Contains(o, want) {
				t.Errorf("run %d: output lacks %q:\n%s", run, want, o)
			}
		}
		if strings.Contains(o, "no match") || strings.Contains(o, "ER429") {
			t.Errorf("run %d:\n%s", run, o)
		}
		t.Logf("run %d:\n%s", run, o)
	}
}
