package main

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/safereset/safereset"
)

// buildFilter builds a breach filter holding the given passwords through
// the real CLI, from HIBP-format input.
func buildFilter(t *testing.T, out string, passwords ...string) {
	t.Helper()
	var in strings.Builder
	for i, pw := range passwords {
		fmt.Fprintf(&in, "%X:%d\n", sha1.Sum([]byte(pw)), i+1)
	}
	src := filepath.Join(t.TempDir(), "pwned.txt")
	if err := os.WriteFile(src, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := cli(t, nil, "", "breach", "build", "--out", out, "--fpr", "0.0001", src); code != 0 {
		t.Fatalf("breach build: %d %s", code, errs)
	}
}

// patchCodes sends a reset whose token is unknown, so the answer lists the
// password's verdict next to ER352.
func patchCodes(s *testServer, key, pw string) []string {
	s.t.Helper()
	b, _ := json.Marshal(map[string]string{"emailAddress": alice, "password": pw, "passwordVerify": pw, "token": strings.Repeat("0", 32)})
	return s.do("PATCH", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key}, string(b)).Codes()
}

// TestBreach_ReloadViaAdminAndSIGHUP: a new filter takes effect without a
// restart; a bad one is refused and the old one stays; /readyz shows it.
func TestBreach_ReloadViaAdminAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.bloom"), filepath.Join(dir, "second.bloom")
	const pwA, pwB = "Zebra-Cactus-91!xq", "Lantern-Oyster-73?vk"
	buildFilter(t, first, pwA)
	buildFilter(t, second, pwA, pwB)
	live := filepath.Join(dir, "live.bloom")
	copyFile(t, first, live)

	p := startBinary(t, "", "--breach-filter", live, "--rate-reset-email", "0")
	key := p.apiKey("breach")
	if !sameCodes(patchCodes(p.testServer, key, pwA), safereset.ER349, safereset.ER352) {
		t.Fatal("password in the filter not refused")
	}
	if !sameCodes(patchCodes(p.testServer, key, pwB), safereset.ER352) {
		t.Fatal("password not in the filter refused")
	}

	// Admin API reload of another file.
	var info safereset.FilterInfo
	if st := p.admin("POST", "/admin/v1/breach/reload", map[string]string{"path": second}, &info); st != 200 || info.Elements != 2 {
		t.Fatalf("reload: %d %+v", st, info)
	}
	if !sameCodes(patchCodes(p.testServer, key, pwB), safereset.ER349, safereset.ER352) {
		t.Fatal("reloaded filter not in effect")
	}
	// A corrupt file is refused and the loaded filter stays.
	bad := filepath.Join(dir, "bad.bloom")
	b, _ := os.ReadFile(second)
	os.WriteFile(bad, b[:len(b)/2], 0o600)
	if st := p.admin("POST", "/admin/v1/breach/reload", map[string]string{"path": bad}, nil); st != 422 {
		t.Fatalf("corrupt reload: %d", st)
	}
	if !sameCodes(patchCodes(p.testServer, key, pwB), safereset.ER349, safereset.ER352) {
		t.Fatal("old filter lost after a refused reload")
	}

	// SIGHUP re-reads the configured path: replace it atomically first.
	tmp := live + ".tmp"
	copyFile(t, first, tmp)
	os.Rename(tmp, live)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return sameCodes(patchCodes(p.testServer, key, pwB), safereset.ER352) }, "SIGHUP reload")

	var ready struct {
		Status       string
		BreachFilter safereset.FilterInfo
	}
	p.admin("GET", "/readyz", nil, &ready)
	// breach build writes format version 2 by default.
	if ready.Status != "ready" || ready.BreachFilter.Elements != 1 || ready.BreachFilter.Bits == 0 || ready.BreachFilter.Version != 2 {
		t.Fatalf("readyz: %+v", ready)
	}
	if line := metricLine(t, p.Admin, "safereset_breach_filter_elements"); line != "safereset_breach_filter_elements 1" {
		t.Fatalf("gauge: %q", line)
	}
	if line := metricLine(t, p.Admin, "safereset_breach_filter_format_version"); line != "safereset_breach_filter_format_version 2" {
		t.Fatalf("gauge: %q", line)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestBreach_ReloadUnderLoad: resets keep being answered correctly while
// the filter is swapped again and again. Run with -race.
func TestBreach_ReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	const pw = "Zebra-Cactus-91!xq"
	a, b := filepath.Join(dir, "a.bloom"), filepath.Join(dir, "b.bloom")
	buildFilter(t, a, pw)
	buildFilter(t, b, pw, "other-entry-1")
	s := startServer(t, "", "--breach-filter", a, "--rate-reset-email", "0", "--rate-ip", "0")
	key := s.apiKey("load")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := patchCodes(s, key, pw); !sameCodes(got, safereset.ER349, safereset.ER352) {
					t.Errorf("during reload: %v", got)
					return
				}
			}
		}()
	}
	for i := 0; i < 40; i++ {
		path := a
		if i%2 == 0 {
			path = b
		}
		if st := s.admin("POST", "/admin/v1/breach/reload", map[string]string{"path": path}, nil); st != 200 {
			t.Errorf("reload %d: %d", i, st)
		}
	}
	close(stop)
	wg.Wait()
}

// TestBreach_FailClosed: the server does not start on a bad filter.
func TestBreach_FailClosed(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.bloom")
	buildFilter(t, good, "x")
	b, _ := os.ReadFile(good)
	cases := map[string][]byte{
		"truncated": b[:len(b)-100],
		"foreign":   []byte(strings.Repeat("not a filter\n", 1000)),
		"empty":     nil,
	}
	corrupt := append([]byte(nil), b...)
	corrupt[len(corrupt)-1] ^= 0xff
	cases["corrupt"] = corrupt
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(dir, name+".bloom")
			os.WriteFile(f, content, 0o600)
			_, errs, code := cli(t, nil, "", "serve", "--data-dir", t.TempDir(), "--addr", freePort(t), "--admin-addr", freePort(t), "--breach-filter", f)
			lines := strings.Split(strings.TrimSpace(errs), "\n")
			last := lines[len(lines)-1]
			if code == 0 || !strings.HasPrefix(last, "safereset: serve: breach filter") {
				t.Fatalf("started or unclear: %d %q", code, errs)
			}
			// Structural damage is refused before anything starts; a bad
			// checksum is found by the background verification, which
			// stops the server before it is ready.
			if name != "corrupt" && len(lines) != 1 {
				t.Fatalf("want one line, got %q", errs)
			}
		})
	}
	if _, errs, code := cli(t, nil, "", "serve", "--data-dir", t.TempDir(), "--breach-filter", filepath.Join(dir, "missing")); code == 0 || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing filter: %d %q", code, errs)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
