package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset/mail/mailtest"
)

// metricValue returns the value of the sample line that starts with
// series (name and labels exactly as exposed), or -1 when absent.
func metricValue(t *testing.T, ops, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(scrape(t, ops), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// mailTokens returns every token carried by the reset links in msgs.
func mailTokens(t *testing.T, msgs []mailtest.Message) []string {
	t.Helper()
	var toks []string
	for _, m := range msgs {
		tok, _ := tokenFrom(t, m)
		toks = append(toks, tok)
	}
	return toks
}

// readArchive returns the files of a backup archive by name, and the
// whole uncompressed tar stream.
func readArchive(t *testing.T, path string) (map[string][]byte, []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(stream))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, stream
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}

// leaked returns the needles found in haystack.
func leaked(haystack []byte, needles []string) []string {
	var found []string
	for _, n := range needles {
		if bytes.Contains(haystack, []byte(n)) {
			found = append(found, n)
		}
	}
	return found
}

var droppedTokenMails = `safereset_mail_sends_total{kind="token",result="dropped"}`

// TestAtRest_NoTokenInDatabaseOrBackup is the attack of reading tokens off
// the disk: many token mails are queued, retried (each retry rewrites the
// entry, leaving old versions in free pages) and finally delivered and
// deleted; then the raw database file, including its free pages, and a
// hot backup taken while the mails were still queued are searched for
// every token issued. None may be there, nor any other text of the mail.
// The backup restored without the outbox key cannot reveal them either:
// its queued mails are dropped (logged and counted), the server keeps
// running; restored with the key they are delivered.
func TestAtRest_NoTokenInDatabaseOrBackup(t *testing.T) {
	const users, requests = 8, 120
	srv := mailtest.Start(t)
	srv.SetDefault(mailtest.Reply(451)) // hold every mail in the outbox, retrying
	s := startServer(t, "", smtpArgs(srv, "--rate-request-email", "0", "--rate-ip", "0")...)
	key := s.apiKey("atrest")
	archive := holdMailsAndBackUp(t, s, srv, key, "user%d@example.com", users, requests)

	srv.SetDefault(mailtest.Accept)
	msgs := srv.WaitFor(requests, 60*time.Second)
	tokens := mailTokens(t, msgs)
	waitFor(t, func() bool { return metricValue(t, s.Admin, "safereset_mail_outbox_depth") == 0 }, "an empty outbox")
	s.Stop()

	disk := atRest(t, s.DataDir, archive)
	scanFor(t, disk, "tokens", tokens)
	// The mail's own words and the link's address must not be there
	// either: the whole payload is sealed, not just the token.
	scanFor(t, disk, "pieces of mail text", []string{"https://app.example/reset", "app.example"})
	bak := disk["backup's database"]
	t.Logf("searched %d tokens in %d bytes of database and %d bytes of backup", len(tokens), len(disk["database file"]), len(disk["backup (whole, uncompressed)"]))

	t.Run("RestoredWithoutKey", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "safereset.db"), bak, 0o600); err != nil {
			t.Fatal(err)
		}
		srv2 := mailtest.Start(t)
		r := startServer(t, dir, smtpArgs(srv2)...)
		waitFor(t, func() bool { return metricValue(t, r.Admin, droppedTokenMails) >= requests }, "every unreadable mail dropped")
		if n := len(srv2.Messages()); n != 0 {
			t.Errorf("%d mails delivered from a backup restored without its key", n)
		}
		if n := metricValue(t, r.Admin, "safereset_mail_outbox_depth"); n != 0 {
			t.Errorf("outbox depth %v after dropping", n)
		}
		if !strings.Contains(r.Log.String(), "cannot be opened") {
			t.Errorf("no log line for the unreadable mails:\n%s", r.Log.String())
		}
		resp, err := http.Get(r.Admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("/readyz %d after dropping unreadable mail", resp.StatusCode)
		}
		scanFor(t, map[string][]byte{"log": []byte(r.Log.String())}, "tokens", tokens)
	})

	t.Run("RestoredWithKey", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "restored")
		if out, errs, code := cli(t, nil, "", "restore", archive, "--data-dir", dir); code != 0 || !strings.Contains(out, "outbox.key") {
			t.Fatalf("restore: %d %q %q", code, out, errs)
		}
		srv3 := mailtest.Start(t)
		startServer(t, dir, smtpArgs(srv3)...)
		again := mailTokens(t, srv3.WaitFor(requests, 60*time.Second))
		if got := len(leaked([]byte(strings.Join(tokens, " ")), again)); got != requests {
			t.Errorf("%d of %d queued mails came back with the key", got, requests)
		}
	})
}

// TestAtRest_DotEmlOutboxOnly: without SMTP the token is written, by
// design, to the .eml files in <data-dir>/outbox; the database beside them
// still holds none of those tokens.
func TestAtRest_DotEmlOutboxOnly(t *testing.T) {
	s := startServer(t, "", "--rate-request-email", "0", "--rate-ip", "0")
	key := s.apiKey("atrest")
	s.addUser(alice, oldPW)
	const n = 40
	for range n {
		if r := s.post(key, alice); r.Status != 202 {
			t.Fatalf("POST: %d", r.Status)
		}
	}
	s.waitToken(alice, n)
	tokens := s.outboxTokens(alice)
	s.Stop()
	raw, err := os.ReadFile(filepath.Join(s.DataDir, "safereset.db"))
	if err != nil {
		t.Fatal(err)
	}
	scanFor(t, map[string][]byte{"database file": raw}, "tokens", tokens)
	if regexp.MustCompile(`token=[0-9a-f]{32}`).Match(raw) {
		t.Errorf("database file holds a reset link")
	}
}
