package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/internal/redistest"
	"github.com/safereset/safereset/mail/mailtest"
	"github.com/safereset/safereset/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// runCmd runs one safereset command in-process and returns its output.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), append([]string{"safereset"}, args...), func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// migratedDB returns a new PostgreSQL database migrated with `safereset
// migrate`.
func migratedDB(t *testing.T) string {
	t.Helper()
	url := pgtest.New(t)
	out, _, err := runCmd(t, "migrate", "--database-url", url)
	if err != nil || !strings.Contains(out, fmt.Sprintf("applied %d migration(s); schema is now %d", postgres.SchemaVersion(), postgres.SchemaVersion())) {
		t.Fatalf("migrate = %q, %v", out, err)
	}
	return url
}

func TestPostgres_MigrateAndSchemaCheck(t *testing.T) {
	url := pgtest.New(t)
	_, _, err := runCmd(t, "serve", "--data-dir", t.TempDir(), "--addr", freePort(t), "--admin-addr", freePort(t), "--database-url", url)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "safereset migrate") {
		t.Fatalf("serve on an unmigrated database: err = %v; want one line telling to run safereset migrate", err)
	}
	out, _, err := runCmd(t, "migrate", "--database-url", url)
	if err != nil || !strings.Contains(out, fmt.Sprintf("applied %d migration(s); schema is now %d", postgres.SchemaVersion(), postgres.SchemaVersion())) {
		t.Fatalf("first migrate = %q, %v", out, err)
	}
	out, _, err = runCmd(t, "migrate", "--database-url", url)
	if err != nil || !strings.Contains(out, "nothing to apply") {
		t.Fatalf("second migrate = %q, %v", out, err)
	}
	if _, _, err := runCmd(t, "migrate"); err == nil {
		t.Error("migrate without --database-url succeeded")
	}
	if _, _, err := runCmd(t, "serve", "--database-url", "/not/a/url"); err == nil || !strings.Contains(err.Error(), "--database-url") {
		t.Errorf("serve with a bad --database-url: err = %v", err)
	}
}

// allTokens returns the token mails for addr written by every replica.
func allTokens(replicas []*testServer, addr string) []string {
	var toks []string
	for _, r := range replicas {
		toks = append(toks, r.outboxTokens(addr)...)
	}
	return toks
}

// Three replicas on one database: a token requested on one, mailed by
// whichever replica claims it (once), raced on all three at once → one
// success; the reset is visible everywhere.
func TestPostgres_ThreeReplicas(t *testing.T) {
	url := migratedDB(t)
	var rs []*testServer
	for range 3 {
		rs = append(rs, startServer(t, "", "--database-url", url, "--rate-reset-email", "0", "--rate-ip", "0", "--rate-request-email", "0"))
	}
	rs[0].addUser(alice, oldPW)
	key := rs[1].apiKey("replicas")
	used := map[string]bool{}
	for round := 1; round <= 3; round++ {
		if r := rs[round%3].post(key, alice); r.Status != 202 {
			t.Fatalf("POST on replica %d: status %d %s", round%3, r.Status, r.Body)
		}
		var tok string
		waitFor(t, func() bool {
			// Replicas name their files independently: the new token is
			// the one not used yet.
			for _, t := range allTokens(rs, alice) {
				if !used[t] {
					tok = t
				}
			}
			return tok != ""
		}, "the token mail from any replica")

		used[tok] = true
		const n = 30
		start := make(chan struct{})
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			pw := fmt.Sprintf("%s-%d-%02d", strongPW, round, i)
			b, _ := json.Marshal(map[string]string{"emailAddress": alice, "password": pw, "passwordVerify": pw, "token": tok})
			req, _ := http.NewRequest("PATCH", rs[i%3].Base+"/api/v1/user/reset-password", bytes.NewReader(b))
			req.Header.Set("X-Api-Key", key)
			wg.Go(func() {
				<-start
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, st := range statuses {
			switch {
			case st == 204 && won >= 0:
				t.Fatalf("round %d: two resets succeeded with one token (%d and %d)", round, won, i)
			case st == 204:
				won = i
			case st != 400:
				t.Errorf("round %d: request %d: status %d", round, i, st)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no reset succeeded", round)
		}
		for _, r := range rs {
			if !r.verify(alice, fmt.Sprintf("%s-%d-%02d", strongPW, round, won)) {
				t.Fatalf("round %d: a replica does not see the winner's password", round)
			}
		}
	}
	// Every replica's worker ran; still each mail went out once.
	if toks := allTokens(rs, alice); len(toks) != 3 {
		t.Errorf("%d token mails sent for 3 requests", len(toks))
	}
}

// PostgreSQL has its own backup tools; the backup command says so in one
// line and fails.
func TestPostgres_BackupSaysPgDump(t *testing.T) {
	url := migratedDB(t)
	s := startServer(t, "", "--database-url", url)
	out := filepath.Join(t.TempDir(), "backup.db")
	args := []string{"safereset", "backup", "--admin-url", s.Admin, out}
	getenv := func(k string) string {
		switch k {
		case "SAFERESET_ADMIN_TOKEN":
			return s.Token
		case "SAFERESET_DATABASE_URL":
			return url
		}
		return ""
	}
	err := run(context.Background(), args, getenv, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("backup in PostgreSQL mode: err = %v; want one line pointing at pg_dump", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("backup left a file behind: %v", err)
	}
	// A backup client that does not know the mode reaches the server,
	// which answers the same.
	if st := s.admin("GET", "/admin/v1/backup", nil, nil); st != http.StatusNotImplemented {
		t.Errorf("GET /admin/v1/backup in PostgreSQL mode: %d, want 501", st)
	}
}

// Limits hold across replicas: 12 round-robin token requests for one
// address over three replicas give 3×202 and 9×429, the same for an
// unknown address; with the limits in the database and in Redis.
func TestPostgres_GlobalLimits(t *testing.T) {
	for _, mode := range []string{"database", "redis"} {
		t.Run(mode, func(t *testing.T) {
			url := migratedDB(t)
			extra := []string{"--database-url", url, "--rate-ip", "0", "--request-min-duration", "0"}
			if mode == "redis" {
				extra = append(extra, "--ratelimit-url", redistest.Start(t, 0).URL())
			}
			var rs []*testServer
			for range 3 {
				rs = append(rs, startServer(t, "", extra...))
			}
			rs[0].addUser(alice, oldPW)
			key := rs[0].apiKey("limits")
			for _, addr := range []string{alice, "nobody@example.com"} {
				got := map[int]int{}
				for i := range 12 {
					got[rs[i%3].post(key, addr).Status]++
				}
				if got[202] != 3 || got[429] != 9 || len(got) != 2 {
					t.Errorf("%s: 12 round-robin POSTs gave %v; want 3×202 and 9×429", addr, got)
				}
			}
		})
	}
}

// A replica killed with SIGKILL while its SMTP server stalls leaves the
// claimed mail to another replica, which sends it once the lease has run
// out.
func TestPostgres_KilledReplicaMailSentByAnother(t *testing.T) {
	url := migratedDB(t)
	// A relay that accepts and never answers: the send hangs.
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	common := []string{"--database-url", url, "--smtp-timeout", "2s", "--mail-lease", "4s", "--rate-ip", "0"}
	a := startBinary(t, "", append(common, "--smtp-url", "smtp://"+stall.Addr().String())...)
	a.addUser(alice, oldPW)
	key := a.apiKey("kill")
	if r := a.post(key, alice); r.Status != 202 {
		t.Fatalf("POST: %d", r.Status)
	}
	c := <-accepted // a's worker has claimed the mail and is sending it
	defer c.Close()
	a.cmd.Process.Kill()
	a.cmd.Wait()

	relay := mailtest.Start(t)
	startBinary(t, "", append(common, "--smtp-url", relay.URL())...)
	msgs, err := relay.Wait(1, 30*time.Second)
	if err != nil {
		t.Fatalf("the mail the killed replica held was not sent by the other: %v", err)
	}
	if len(msgs) != 1 || !bytes.Contains(msgs[0].Data, []byte("token=")) {
		t.Fatalf("relay got %d messages; want the one token mail", len(msgs))
	}
}
