package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestLoadAdminToken: two starts racing on an empty data dir agree on one
// token; a token file others may read is refused, a short one too.
func TestLoadAdminToken(t *testing.T) {
	t.Run("Race", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data", "admin.token")
		const n = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		toks, errs := make([]string, n), make([]error, n)
		for i := range n {
			wg.Go(func() {
				<-start
				toks[i], errs[i] = loadAdminToken(path)
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("start %d: %v", i, errs[i])
			}
			if toks[i] != toks[0] || len(toks[i]) != 64 {
				t.Fatalf("start %d got token %q, start 0 %q", i, toks[i], toks[0])
			}
		}
		b, err := os.ReadFile(path)
		if err != nil || strings.TrimSpace(string(b)) != toks[0] {
			t.Fatalf("file holds %q (%v), want the token", b, err)
		}
	})
	t.Run("GroupReadable", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "admin.token")
		if err := os.WriteFile(path, []byte(strings.Repeat("a", 64)), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := loadAdminToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("err = %v, want a refusal naming chmod 600", err)
		}
	})
	t.Run("Short", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "admin.token")
		if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadAdminToken(path); err == nil || !strings.Contains(err.Error(), "fewer than 32") {
			t.Fatalf("err = %v, want a refusal", err)
		}
	})
}
