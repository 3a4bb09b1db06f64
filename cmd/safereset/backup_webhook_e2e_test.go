package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/webhook"
)

// TestBinary_BackupRestoreKeepsWebhookSecret: the webhook signing secret
// travels in the backup, so receivers keep verifying after a restore into
// a fresh directory: a delivery from the restored binary verifies, with
// the reference library, under the secret read before the backup.
func TestBinary_BackupRestoreKeepsWebhookSecret(t *testing.T) {
	dir := t.TempDir()
	var orig string
	recv := newSecretReceiver(t, func() (string, error) { return orig, nil })
	args := []string{"--webhook-url", recv.URL(), "--mail-retry-base", "50ms", "--mail-retry-max", "200ms"}
	p := startBinary(t, dir, args...)
	b, err := os.ReadFile(filepath.Join(dir, webhook.SecretFileName))
	if err != nil {
		t.Fatalf("no generated webhook secret: %v", err)
	}
	orig = strings.TrimSpace(string(b))
	p.addUser(alice, oldPW)
	key := p.apiKey("backup")
	if st, err := apiCall("POST", p.Base, key, "before-backup", map[string]string{"emailAddress": alice}); err != nil || st != 202 {
		t.Fatalf("POST: %d %v", st, err)
	}
	recv.waitRequests("before-backup")

	archive := filepath.Join(t.TempDir(), "safereset.backup")
	out, errs, code := runBin(t, []string{"SAFERESET_ADMIN_URL=" + p.Admin}, "", "backup", "--data-dir", dir, archive)
	if code != 0 || !strings.Contains(out, webhook.SecretFileName) {
		t.Fatalf("backup: %d %q %q; want %s listed", code, out, errs, webhook.SecretFileName)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out, errs, code := runBin(t, nil, "", "restore", archive, "--data-dir", restored); code != 0 {
		t.Fatalf("restore: %d %q %q", code, out, errs)
	}
	fi, err := os.Stat(filepath.Join(restored, webhook.SecretFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s after restore: %v %v", webhook.SecretFileName, fi, err)
	}

	q := startBinary(t, restored, args...)
	if st, err := apiCall("POST", q.Base, key, "after-restore", map[string]string{"emailAddress": alice}); err != nil || st != 202 {
		t.Fatalf("POST after restore: %d %v", st, err)
	}
	recv.waitRequests("after-restore")
	evs, _ := recv.byRequest()
	if ev := evs["after-restore"]; ev.Type != safereset.EventResetRequested || ev.Data.Email != alice {
		t.Errorf("event after restore: %+v", ev)
	}
	recv.mu.Lock()
	bad := recv.bad
	recv.mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("deliveries that failed verification under the original secret: %v", bad)
	}
	if code := q.term(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
