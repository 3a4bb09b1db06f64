package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/webhook"
)

// auditPage fetches one page of GET /admin/v1/audit and returns the raw
// body with the decoded entries.
func auditPage(t *testing.T, s *testServer, query string) ([]byte, []safereset.AuditEntry, uint64) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.Admin+"/admin/v1/audit"+query, nil)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET audit%s: %d %s", query, resp.StatusCode, buf.String())
	}
	var page struct {
		Entries []safereset.AuditEntry `json:"entries"`
		Next    uint64                 `json:"next"`
	}
	if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), page.Entries, page.Next
}

// runCLI runs one safereset command against s and returns its stdout.
func runCLI(t *testing.T, ctx context.Context, s *testServer, stdout *syncBuffer, args ...string) error {
	t.Helper()
	getenv := func(k string) string {
		if k == "SAFERESET_ADMIN_TOKEN" {
			return s.Token
		}
		return ""
	}
	full := append([]string{"safereset"}, args...)
	full = append(full, "--admin-url", s.Admin)
	return run(ctx, full, getenv, strings.NewReader(""), stdout, &syncBuffer{})
}

// TestAudit_EveryChangeOnceAndNoSecret drives every change §12 lists
// through the real binary, on bbolt and on PostgreSQL (and several refused
// changes that must leave nothing), then reads the trail through the admin
// API and both forms of `safereset audit`: exactly the expected lines, in
// order, each with its actor and masked address, and none holding any
// secret, token, key or address used in the run.
func TestAudit_EveryChangeOnceAndNoSecret(t *testing.T) {
	for _, engine := range []string{"bbolt", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			recv := newHookReceiver(t, dir, nil)
			args := hookArgs(recv)
			if engine == "postgres" {
				// The receiver reads the secret beside the data, so give
				// the replica that file rather than the database's.
				secret, err := webhook.NewSecret()
				if err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(dir, webhook.SecretFileName)
				if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--database-url", migratedDB(t), "--webhook-secret-file", file)
			}
			auditEveryChange(t, startBinary(t, dir, args...).testServer, dir, recv)
		})
	}
}

// auditEveryChange is TestAudit_EveryChangeOnceAndNoSecret on one server.
func auditEveryChange(t *testing.T, s *testServer, dir string, recv *hookReceiver) {
	secrets := []string{s.Token, oldPW, strongPW, "Imported-Passw0rd-1", "Imported-Passw0rd-2",
		alice, bob, "carol@example.com", "dave@example.com", "nobody@example.com", "127.0.0.1"}

	s.addUser(alice, oldPW)
	var imp struct{ Imported, Skipped, Failed int }
	lines := `{"emailAddress":"carol@example.com","password":"Imported-Passw0rd-1"}
{"emailAddress":"dave@example.com","password":"Imported-Passw0rd-2"}
{"emailAddress":"alice@example.com","password":"Imported-Passw0rd-2"}
`
	req, _ := http.NewRequest("POST", s.Admin+"/admin/v1/users/import", strings.NewReader(lines))
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&imp)
	resp.Body.Close()
	if imp.Imported != 2 || imp.Skipped != 1 {
		t.Fatalf("import: %+v", imp)
	}
	key := s.apiKey("shop")
	var old struct{ ID, Key string }
	if st := s.admin("POST", "/admin/v1/apikeys", map[string]string{"name": "old"}, &old); st != 201 {
		t.Fatalf("apikey: %d", st)
	}
	secrets = append(secrets, key, old.Key)
	for range 2 { // the second revoke changes nothing and records nothing
		if st := s.admin("DELETE", "/admin/v1/apikeys/"+old.ID, nil, nil); st != 204 {
			t.Fatalf("revoke: %d", st)
		}
	}
	var jwtOut struct{ Token string }
	if st := s.admin("POST", "/admin/v1/jwt", map[string]string{"subject": "billing", "ttl": "1h"}, &jwtOut); st != 200 {
		t.Fatalf("jwt issue: %d", st)
	}
	secrets = append(secrets, jwtOut.Token)
	if st := s.admin("POST", "/admin/v1/breach/reload", nil, nil); st != 200 {
		t.Fatalf("reload: %d", st)
	}
	bad, _ := http.NewRequest("GET", s.Admin+"/admin/v1/apikeys", nil)
	bad.Header.Set("Authorization", "Bearer wrong-admin-token-guess-0123456789abcdef")
	secrets = append(secrets, "wrong-admin-token-guess-0123456789abcdef")
	if resp, err := http.DefaultClient.Do(bad); err != nil || resp.StatusCode != 401 {
		t.Fatalf("wrong admin token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if r := s.post(key, alice); r.Status != 202 {
		t.Fatalf("POST: %d", r.Status)
	}
	if r := s.post(key, "nobody@example.com"); r.Status != 202 {
		t.Fatalf("POST unknown: %d", r.Status)
	}
	tok := s.waitToken(alice, 1)
	secrets = append(secrets, tok)
	if r := s.patch(key, alice, strongPW, strongPW, strings.Repeat("0", 32)); r.Status != 400 {
		t.Fatalf("PATCH with a wrong token: %d", r.Status)
	}
	if r := s.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("PATCH: %d %v", r.Status, r.Codes())
	}
	if st := s.admin("POST", "/admin/v1/users/delete", map[string]string{"emailAddress": "dave@example.com"}, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st := s.admin("POST", "/admin/v1/users/delete", map[string]string{"emailAddress": "dave@example.com"}, nil); st != 404 {
		t.Fatalf("second delete: %d", st)
	}
	recv.waitAccepted(safereset.EventPasswordChanged)
	whsec, err := os.ReadFile(filepath.Join(dir, "webhook.secret"))
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, strings.TrimSpace(string(whsec)), strings.TrimPrefix(strings.TrimSpace(string(whsec)), "whsec_"))

	type want struct {
		action safereset.AuditAction
		actor  string
		user   bool
	}
	wants := []want{
		{safereset.AuditUserCreated, "admin", true},
		{safereset.AuditUserImported, "admin", true},
		{safereset.AuditUserImported, "admin", true},
		{safereset.AuditAPIKeyCreated, "admin", false},
		{safereset.AuditAPIKeyCreated, "admin", false},
		{safereset.AuditAPIKeyRevoked, "admin", false},
		{safereset.AuditJWTIssued, "admin", false},
		{safereset.AuditFilterReloaded, "admin", false},
		{safereset.AuditAdminTokenRefused, "anonymous", false},
		{safereset.AuditTokenRequested, "apikey:shop", true},
		{safereset.AuditPasswordChanged, "apikey:shop", true},
		{safereset.AuditUserDeleted, "admin", true},
	}
	raw, entries, next := auditPage(t, s, "")
	if next != 0 {
		t.Errorf("next = %d on the only page", next)
	}
	if len(entries) != len(wants) {
		t.Fatalf("%d audit entries, want %d:\n%s", len(entries), len(wants), raw)
	}
	for i, w := range wants {
		e := entries[i]
		if e.Action != w.action || e.Actor != w.actor || (e.UserID != 0) != w.user || e.ClientAddr != "127.0.0.0/24" || e.RequestID == "" || e.Time.IsZero() {
			t.Errorf("entry %d = %+v, want %s by %s (user %v) from 127.0.0.0/24", i, e, w.action, w.actor, w.user)
		}
	}
	if entries[6].Target != "jwt:billing" || !strings.HasPrefix(entries[3].Target, "k_") {
		t.Errorf("targets: jwt %q, apikey %q", entries[6].Target, entries[3].Target)
	}
	if entries[0].UserID != entries[9].UserID || entries[9].UserID != entries[10].UserID {
		t.Errorf("alice's lines name different users: %d %d %d", entries[0].UserID, entries[9].UserID, entries[10].UserID)
	}

	// Paged through, the same entries come back.
	var paged []safereset.AuditEntry
	for q := "?limit=5"; ; {
		_, page, next := auditPage(t, s, q)
		paged = append(paged, page...)
		if next == 0 {
			break
		}
		q = "?limit=5&after=" + jsonNumber(next)
	}
	if len(paged) != len(entries) || paged[len(paged)-1].ID != entries[len(entries)-1].ID {
		t.Errorf("paging returned %d entries, want %d", len(paged), len(entries))
	}
	for _, q := range []string{"?since=yesterday", "?limit=0", "?limit=1001", "?after=-1"} {
		req, _ := http.NewRequest("GET", s.Admin+"/admin/v1/audit"+q, nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 400 {
			t.Errorf("GET audit%s: %v %v, want 400", q, resp.StatusCode, err)
		}
		resp.Body.Close()
	}

	var text, js syncBuffer
	if err := runCLI(t, context.Background(), s, &text, "audit"); err != nil {
		t.Fatalf("safereset audit: %v", err)
	}
	if err := runCLI(t, context.Background(), s, &js, "audit", "--json", "--since", "1h"); err != nil {
		t.Fatalf("safereset audit --json: %v", err)
	}
	if n := strings.Count(text.String(), "\n"); n != len(wants) {
		t.Errorf("audit printed %d lines, want %d:\n%s", n, len(wants), text.String())
	}
	if !strings.Contains(text.String(), "password.changed actor=apikey:shop user=") {
		t.Errorf("text lines:\n%s", text.String())
	}
	jsLines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(jsLines) != len(wants) {
		t.Fatalf("audit --json printed %d lines, want %d", len(jsLines), len(wants))
	}
	for i, l := range jsLines {
		var e safereset.AuditEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.ID != entries[i].ID || e.Action != entries[i].Action {
			t.Errorf("--json line %d = %q (%v)", i, l, err)
		}
	}
	var future syncBuffer
	if err := runCLI(t, context.Background(), s, &future, "audit", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); err != nil || future.String() != "" {
		t.Errorf("--since in the future: %q %v", future.String(), err)
	}
	if err := runCLI(t, context.Background(), s, &future, "audit", "--since", "last tuesday"); err == nil {
		t.Error("a bad --since was accepted")
	}

	for _, where := range []struct{ name, text string }{{"admin API", string(raw)}, {"audit", text.String()}, {"audit --json", js.String()}} {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(strings.ToLower(where.text), strings.ToLower(sec)) {
				t.Errorf("%s output holds the secret %q", where.name, sec)
			}
		}
	}
	recv.check()
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// TestAudit_Follow: `safereset audit --follow` prints the trail so far,
// then each new change, until interrupted.
func TestAudit_Follow(t *testing.T) {
	s := startServer(t, "")
	s.addUser(alice, oldPW)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- runCLI(t, ctx, s, &out, "audit", "--follow", "--interval", "50ms") }()
	waitFor(t, func() bool { return strings.Contains(out.String(), "user.created") }, "the existing line")
	s.apiKey("late")
	waitFor(t, func() bool { return strings.Contains(out.String(), "apikey.created") }, "the new line")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("audit --follow ended with %v", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("--follow printed %d lines, want 2:\n%s", n, out.String())
	}
}

// TestAudit_RetentionSweep: the sweep deletes entries older than the
// retention and keeps the rest.
func TestAudit_RetentionSweep(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-100 * 24 * time.Hour)
	db, err := store.Open(filepath.Join(t.TempDir(), "safereset.db"), store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, age := range []time.Duration{100 * 24 * time.Hour, 91 * 24 * time.Hour, 89 * 24 * time.Hour, time.Hour} {
		clock = now.Add(-age)
		if err := db.Record(ctx, safereset.Effects{Audit: []safereset.AuditEntry{{Action: safereset.AuditJWTIssued, Actor: "admin"}}}); err != nil {
			t.Fatal(err)
		}
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	var logs syncBuffer
	go func() {
		defer close(done)
		sweepAudit(sctx, db, 90*24*time.Hour, func() time.Time { return now }, newTestLogger(&logs))
	}()
	waitFor(t, func() bool { return strings.Contains(logs.String(), "audit retention sweep") }, "the sweep")
	stop()
	<-done
	left, err := db.AuditLog(ctx, safereset.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || !left[0].Time.Equal(now.Add(-89*24*time.Hour)) {
		t.Errorf("after the sweep: %+v", left)
	}
}

func newTestLogger(w *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
