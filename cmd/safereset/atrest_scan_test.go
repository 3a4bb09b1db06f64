package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safereset/safereset/mail/mailtest"
)

// holdMailsAndBackUp adds users addresses made from format (one %d),
// posts requests token requests spread over them while srv refuses every
// mail, waits until each mail has been tried and rescheduled at least once
// (each retry rewrites the outbox entry, leaving old versions in free
// pages) and takes a hot backup of s. It returns the archive's path; the
// mails are still held.
func holdMailsAndBackUp(t *testing.T, s *testServer, srv *mailtest.Server, key, format string, users, requests int) string {
	t.Helper()
	var addrs []string
	for i := range users {
		addrs = append(addrs, fmt.Sprintf(format, i))
		s.addUser(addrs[i], oldPW)
	}
	for i := range requests {
		if r := s.post(key, addrs[i%users]); r.Status != 202 {
			t.Fatalf("POST: %d %s", r.Status, r.Body)
		}
	}
	if err := srv.WaitAttempts(2*requests, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "backup.tgz")
	if out, errs, code := cli(t, s, "", "backup", "--data-dir", s.DataDir, archive); code != 0 {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	return archive
}

// atRest returns, by name, what someone holding the disk of a stopped
// server reads: the raw database file in dataDir (free pages included),
// the database inside the backup archive and the whole uncompressed
// archive stream.
func atRest(t *testing.T, dataDir, archive string) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "safereset.db"))
	if err != nil {
		t.Fatal(err)
	}
	entries, stream := readArchive(t, archive)
	if entries["safereset.db"] == nil {
		t.Fatalf("no database in the backup; entries %v", entries)
	}
	return map[string][]byte{
		"database file":                raw,
		"backup's database":            entries["safereset.db"],
		"backup (whole, uncompressed)": stream,
	}
}

// scanFor fails t for every place that holds any of secrets; what names
// the secrets in the failure ("tokens").
func scanFor(t *testing.T, places map[string][]byte, what string, secrets []string) {
	t.Helper()
	for name, b := range places {
		if found := leaked(b, secrets); len(found) > 0 {
			t.Errorf("%s: %d of %d %s readable, e.g. %q", name, len(found), len(secrets), what, found[0])
		}
	}
}
