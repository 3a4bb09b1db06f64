package main

import (
	"bufio"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/mail/mailtest"
)

// refuseLockTokensSQL makes the database itself refuse every new lock
// token from then on, as a full disk or a revoked grant would: the write
// fails inside PostgreSQL, not in a stand-in for the store.
var refuseLockTokensSQL = []string{
	`CREATE FUNCTION refuse_lock_token() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN RAISE EXCEPTION 'test refuses lock tokens'; END $$`,
	`CREATE TRIGGER refuse_lock_token BEFORE INSERT ON lock_tokens FOR EACH ROW EXECUTE FUNCTION refuse_lock_token()`,
}

// TestNotMe_ConfirmationWithoutLockLink: when the lock token of the
// confirmation mail cannot be stored, the password is still reset, the
// confirmation mail still goes out (without the "this wasn't me" link),
// and one Error line says so without any secret in it.
func TestNotMe_ConfirmationWithoutLockLink(t *testing.T) {
	url := pgtest.New(t)
	if _, _, err := runCmd(t, "migrate", "--database-url", url); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	srv := mailtest.Start(t)
	s := startServer(t, "", append([]string{"--database-url", url}, notMeArgs(srv)...)...)
	const addr, newPW = "confirm-nolock@example.com", "kDWPe4qf$&mgM26&8hX"
	s.addUser(addr, oldPW)
	key := s.apiKey("notme")
	if r := s.post(key, addr); r.Status != 202 {
		t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	tokenMail := srv.WaitFor(1, 20*time.Second)[0]
	tok, _ := tokenFromText(t, tokenMail)
	// The lock links are on: the token mail, stored before the refusal,
	// carries one.
	lockLinkOf(t, tokenMail, s.Base)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range refuseLockTokensSQL {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	if r := s.patch(key, addr, newPW, newPW, tok); r.Status != 204 {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	if !s.verify(addr, newPW) {
		t.Error("the password was not reset")
	}
	msgs := srv.WaitFor(2, 20*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("%d mails, want the token mail and the confirmation", len(msgs))
	}
	conf, err := mailtest.Parse(msgs[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conf.Subject, "password was changed") || !strings.Contains(conf.Text, addr) {
		t.Fatalf("second mail is not the confirmation: %q\n%s", conf.Subject, conf.Text)
	}
	if strings.Contains(conf.Text, "/reset/not-me") || strings.Contains(conf.HTML, "/reset/not-me") {
		t.Errorf("the confirmation carries a lock link whose token was never stored:\n%s", conf.Text)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM lock_tokens`).Scan(&n); err != nil || n != 1 {
		t.Errorf("lock tokens stored: %d, %v; want only the token mail's", n, err)
	}

	var errLines []string
	sc := bufio.NewScanner(strings.NewReader(s.Log.String()))
	for sc.Scan() {
		var line struct{ Level, Msg, Error string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Level == "ERROR" {
			errLines = append(errLines, sc.Text())
			if line.Msg != "confirmation mail goes without its lock link" || !strings.Contains(line.Error, "test refuses lock tokens") {
				t.Errorf("unexpected Error line: %s", sc.Text())
			}
		}
	}
	if len(errLines) != 1 {
		t.Fatalf("%d Error lines, want the one about the lock link:\n%s", len(errLines), s.Log.String())
	}
	for _, secret := range []string{addr, newPW, oldPW, tok, key} {
		if strings.Contains(s.Log.String(), secret) {
			t.Errorf("the log shows a secret (%d characters)", len(secret))
		}
	}
	if regexp.MustCompile(`[0-9a-f]{32}`).MatchString(errLines[0]) {
		t.Errorf("the Error line holds a token-like value: %s", errLines[0])
	}
}
