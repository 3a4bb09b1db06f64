package main

import (
	"archive/tar"
	"context"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireTool returns the path of an external program, skipping loudly
// without it locally and failing under CI=true.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; CI must provide it", name)
	}
	t.Skipf("SKIPPED LOUDLY: %s is not installed, so this packaging check did not run", name)
	return ""
}

// TestPackaging_SystemdUnit: systemd-analyze accepts the unit, it has the
// hardening the README promises, and its offline exposure score stays low.
func TestPackaging_SystemdUnit(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	unit, err := os.ReadFile("../../packaging/systemd/safereset.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=safereset",
		"ExecReload=/bin/kill -HUP $MAINPID", "UMask=0077", "CapabilityBoundingSet=\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// verify checks that ExecStart names an executable: point it at the
	// binary under test.
	dir := t.TempDir()
	path := filepath.Join(dir, "safereset.service")
	local := strings.ReplaceAll(string(unit), "/usr/local/bin/safereset", binary(t))
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline unavailable: %v\n%s", err, out)
		return
	}
	m := regexp.MustCompile(`Overall exposure level for safereset.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.0 {
		t.Fatalf("exposure %v, want at most 2.0 (OK):\n%s", score, out)
	}
}

// TestPackaging_Container builds packaging/Containerfile with podman
// (FROM scratch needs no network), exports the image's filesystem and runs
// the binary found in it: running containers is not possible on every
// build machine, exporting is.
func TestPackaging_Container(t *testing.T) {
	podman := requireTool(t, "podman")
	// A podman that waits on its storage lock would otherwise hold the
	// whole test binary until go test's timeout; fail this test instead.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "bash", "../../packaging/build-image.sh", "safereset-test:latest")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build-image.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(podman, "rmi", "-f", "safereset-test:latest").Run() })
	inspect := func(format string) string {
		out, err := exec.CommandContext(ctx, podman, "image", "inspect", "--format", format, "safereset-test:latest").CombinedOutput()
		if err != nil {
			t.Fatalf("podman image inspect: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if u := inspect("{{.Config.User}}"); u == "" || u == "0" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0:") {
		t.Errorf("image runs as %q, want a non-root user", u)
	}
	if v := inspect("{{json .Config.Volumes}}"); !strings.Contains(v, `"/data"`) {
		t.Errorf("volumes %s, want /data", v)
	}
	if e := inspect("{{json .Config.Entrypoint}}"); !strings.Contains(e, "/safereset") {
		t.Errorf("entrypoint %s", e)
	}

	cid, err := exec.CommandContext(ctx, podman, "create", "safereset-test:latest").Output()
	if err != nil {
		t.Fatalf("podman create: %v", err)
	}
	id := strings.TrimSpace(string(cid))
	t.Cleanup(func() { exec.Command(podman, "rm", "-f", id).Run() })
	fsTar := filepath.Join(t.TempDir(), "fs.tar")
	if out, err := exec.CommandContext(ctx, podman, "export", "-o", fsTar, id).CombinedOutput(); err != nil {
		t.Fatalf("podman export: %v\n%s", err, out)
	}
	f, err := os.Open(fsTar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bin := filepath.Join(t.TempDir(), "safereset")
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		switch strings.TrimPrefix(h.Name, "./") {
		case "safereset":
			out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(out, tr)
			out.Close()
		case "data", "data/":
			if h.Uid == 0 {
				t.Errorf("/data is owned by root; the non-root user cannot write it")
			}
		}
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no /safereset in the image filesystem: %v", names)
	}
	e, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the image's binary is dynamically linked; FROM scratch has no loader")
		}
	}
	e.Close()
	out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "safereset ") {
		t.Fatalf("binary from the image: %v %q", err, out)
	}
}
