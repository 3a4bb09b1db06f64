package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/pgtest"
)

// A deployment moved off bbolt keeps its receivers working: the webhook
// secret becomes the database's shared one, and a delivery still queued
// (the receiver was down) is sent after the move under its webhook-id,
// verifying with the secret the receiver already had; and the secret
// comes back to a bbolt file.
func TestStoreCopy_CarriesWebhookSecretAndQueuedWebhooks(t *testing.T) {
	dir := t.TempDir()
	var (
		mu   sync.Mutex
		down = true
	)
	recv := newHookReceiver(t, dir, func(int) bool { mu.Lock(); defer mu.Unlock(); return down })
	s := startServer(t, dir, hookArgs(recv)...)
	if st := s.admin("POST", "/admin/v1/breach/reload", nil, nil); st != 200 {
		t.Fatalf("reload: %d", st)
	}
	// Wait until the receiver has refused it once: the event is queued.
	waitFor(t, func() bool { recv.mu.Lock(); defer recv.mu.Unlock(); return recv.attempts > 0 }, "a first refused attempt")
	s.Stop()
	recv.mu.Lock()
	var queuedID string
	for id := range recv.idsByTyp[safereset.EventFilterReloaded] {
		queuedID = id
	}
	recv.mu.Unlock()

	url := pgtest.New(t)
	out, _, err := runCmd(t, "store", "copy", "--from", filepath.Join(dir, "safereset.db"), "--to", url)
	if m := copiedRE.FindStringSubmatch(out); err != nil || m == nil || m[5] != "1" || m[7] != "3" {
		t.Fatalf("store copy printed %q, %v; want 1 queued delivery and 3 shared keys (rate limit, JWT, webhook)", out, err)
	}

	mu.Lock()
	down = false
	mu.Unlock()
	p := startServer(t, "", append([]string{"--database-url", url}, hookArgs(recv)...)...)
	recv.waitAccepted(safereset.EventFilterReloaded)
	recv.check() // verified with the secret from the bbolt side
	recv.mu.Lock()
	_, same := recv.accepted[queuedID]
	ids := len(recv.idsByTyp[safereset.EventFilterReloaded])
	recv.mu.Unlock()
	if !same || ids != 1 {
		t.Errorf("after the move the event came under %d webhook-ids (queued one accepted: %v); want its one id", ids, same)
	}
	p.Stop()

	// Back to bbolt: the secret is written beside the new file, the same.
	back := filepath.Join(t.TempDir(), "safereset.db")
	out, _, err = runCmd(t, "store", "copy", "--from", url, "--to", back)
	if m := copiedRE.FindStringSubmatch(out); err != nil || m == nil || m[7] != "3" {
		t.Fatalf("copy back printed %q, %v; want 3 shared keys", out, err)
	}
	if a, b := readTrim(t, filepath.Join(dir, "webhook.secret")), readTrim(t, filepath.Join(filepath.Dir(back), "webhook.secret")); a != b {
		t.Error("the webhook secret copied back differs from the original")
	}
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
