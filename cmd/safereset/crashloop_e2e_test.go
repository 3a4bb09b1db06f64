package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safereset/safereset/mail/mailtest"
	"github.com/safereset/safereset/store"
)

var crashKills = flag.Int("crashloop.kills", 0, "SIGKILL cycles in TestCrashLoop (default 3, or SAFERESET_CRASHLOOP_KILLS)")

// crashKillCount is the number of kill cycles of TestCrashLoop.
func crashKillCount(t *testing.T) int { return killCount(t, *crashKills, "SAFERESET_CRASHLOOP_KILLS") }

// killCount is the number of kill cycles of a kill-loop test: the flag's
// value, else the env variable, else 3 (the short form CI runs).
func killCount(t *testing.T, flagValue int, env string) int {
	t.Helper()
	if flagValue > 0 {
		return flagValue
	}
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", env, v)
		}
		return n
	}
	return 3
}

// killAfter is, per cycle, how many acknowledged responses (from every
// client together) the test observes before it sends SIGKILL. With resets,
// token requests and admin changes in flight at once, each point catches
// other requests before, inside and after their commits.
var killAfter = []int{1, 9, 4, 17, 2, 12, 6, 23, 3, 14}

// crashClient gives up on a dead server quickly and never reuses a
// connection across a restart.
var crashClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func crashDo(method, url string, hdr map[string]string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := crashClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err // the answer was cut off: not acknowledged
	}
	return resp.StatusCode, b, nil
}

func crashPassword() string {
	var b [8]byte
	rand.Read(b[:])
	return "Kx9$" + hex.EncodeToString(b[:]) + "-vQ"
}

// resetUser is an account driven through request-token → mail → reset in
// one goroutine, so at most one of its requests is ever in flight.
type resetUser struct {
	email     string
	tried     []string // every password ever set or attempted
	current   string   // the password that worked after the last check
	pending   string   // a reset sent whose answer was lost
	tokens    []string // tokens mailed to it, in order
	consumed  int      // tokens[:consumed] were consumed by a committed reset
	ackedPOST int      // token requests answered 202 (each queued one mail)
}

// driveResets runs u through token request → its mail → reset, over and
// over, against base until a request fails (the server died), stop is
// closed, or an answer is wrong (an error). It calls ack after each
// acknowledged answer and keeps u's record of what was acknowledged and
// what is in flight, for crashCheck.
func driveResets(t *testing.T, base, key string, srv *mailtest.Server, u *resetUser, ack func(), stop <-chan struct{}) {
	apiHdr := map[string]string{"X-Api-Key": key}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for !stopped() {
		st, _, err := crashDo("POST", base+"/api/v1/user/reset-password", apiHdr, map[string]string{"emailAddress": u.email})
		if err != nil {
			return
		}
		if st != http.StatusAccepted {
			t.Errorf("token request for %s: %d", u.email, st)
			return
		}
		u.ackedPOST++
		ack()
		var tok string
		deadline := time.Now().Add(time.Minute)
		for tok == "" {
			if stopped() {
				return // crashCheck still expects the mail
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: no mail a minute after an acknowledged token request", u.email)
				return
			}
			srv.Wait(len(srv.Messages())+1, 100*time.Millisecond)
			byTo, _ := deliveredTokens(srv)
			if got := byTo[u.email]; len(got) > len(u.tokens) {
				u.tokens = got
				tok = got[len(got)-1]
			}
		}
		pw := crashPassword()
		u.tried = append(u.tried, pw)
		u.pending = pw
		st, body, err := crashDo("PATCH", base+"/api/v1/user/reset-password", apiHdr,
			map[string]string{"emailAddress": u.email, "password": pw, "passwordVerify": pw, "token": tok})
		if err != nil {
			return
		}
		if st != http.StatusNoContent && st != http.StatusBadGateway { // 502 ER355: reset, only the mail failed
			t.Errorf("reset of %s: %d %s", u.email, st, body)
			return
		}
		u.current, u.pending, u.consumed = pw, "", len(u.tokens)
		ack()
	}
}

// mailOnly is an account that only receives token requests.
type mailOnly struct {
	email     string
	ackedPOST int
	sentPOST  int
}

// adminUser is an account the admin goroutine creates and deletes.
type adminUser struct {
	email, pw        string
	created, deleted bool // acknowledged
	unsure           bool // a change to it was not acknowledged
}

type adminKey struct {
	id, key         string
	revoked, unsure bool
}

var crashLinkRE = regexp.MustCompile(`https://app\.example/reset\?t=([0-9a-f]{32})`)

// deliveredTokens maps each recipient to the tokens of the token mails it
// received (in order, first delivery), and each token to its deliveries.
func deliveredTokens(srv *mailtest.Server) (map[string][]string, map[string]int) {
	byTo, count := map[string][]string{}, map[string]int{}
	for _, m := range srv.Messages() {
		p, err := mailtest.Parse(m.Data)
		if err != nil || len(m.To) != 1 {
			continue
		}
		mm := crashLinkRE.FindStringSubmatch(p.Text)
		if mm == nil {
			continue // a confirmation mail
		}
		if count[mm[1]]++; count[mm[1]] == 1 {
			byTo[m.To[0]] = append(byTo[m.To[0]], mm[1])
		}
	}
	return byTo, count
}

// checkStore opens the data dir's database offline and runs store Check.
func checkStore(t *testing.T, dir string) {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "safereset.db"), store.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open the database after the kill: %v", err)
	}
	defer db.Close()
	if err := db.Check(context.Background()); err != nil {
		t.Fatalf("store Check after the kill: %v", err)
	}
}

// TestCrashLoop (real binary): concurrent resets, token requests and admin
// changes, SIGKILL after the k-th acknowledged response (k differs per
// cycle), restart on the same data dir, then: the database passes Check;
// every acknowledged reset holds and an unacknowledged one left either the
// old password or (its commit may have made it to disk before the answer
// was lost) the new one — never both, never neither, never another; no
// consumed token works again; every acknowledged token request's mail is
// delivered, at most twice; acknowledged admin changes hold.
// 3 cycles by default; -crashloop.kills=10 or SAFERESET_CRASHLOOP_KILLS=10
// for the full form.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: restarts the real binary several times")
	}
	kills := crashKillCount(t)
	srv := mailtest.Start(t)
	dir := t.TempDir()
	args := smtpArgs(srv, "--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0", "--request-min-duration", "1ms")

	p := startBinary(t, dir, args...)
	key := p.apiKey("crashloop")
	users := make([]*resetUser, 4)
	for i := range users {
		pw := crashPassword()
		users[i] = &resetUser{email: fmt.Sprintf("crash%d@example.com", i), tried: []string{pw}, current: pw}
		p.addUser(users[i].email, pw)
	}
	mailers := []*mailOnly{{email: "mailonly0@example.com"}, {email: "mailonly1@example.com"}}
	for _, m := range mailers {
		p.addUser(m.email, crashPassword())
	}
	var adminUsers []*adminUser
	var adminKeys []*adminKey

	for cycle := 0; cycle < kills; cycle++ {
		k := killAfter[cycle%len(killAfter)] + cycle/len(killAfter)
		var acks atomic.Int64
		killed := make(chan struct{})
		var killOnce sync.Once
		ack := func() {
			if acks.Add(1) == int64(k) {
				killOnce.Do(func() {
					p.cmd.Process.Kill()
					close(killed)
				})
			}
		}
		base, admin, tok := p.Base, p.Admin, p.Token
		apiHdr := map[string]string{"X-Api-Key": key}
		adminHdr := map[string]string{"Authorization": "Bearer " + tok}
		var wg sync.WaitGroup

		// Resets: token request, wait for the mail, reset; repeat. After
		// the kill the mail still has to come, after the restart.
		for _, u := range users {
			wg.Go(func() { driveResets(t, base, key, srv, u, ack, killed) })
		}

		// Token requests for accounts that only receive mail, and for
		// addresses nobody has.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				m := mailers[i%len(mailers)]
				email := m.email
				if i%3 == 2 {
					email = fmt.Sprintf("nobody%d@example.com", i)
				} else {
					m.sentPOST++
				}
				st, _, err := crashDo("POST", base+"/api/v1/user/reset-password", apiHdr, map[string]string{"emailAddress": email})
				if err != nil {
					return
				}
				if st != http.StatusAccepted {
					t.Errorf("token request: %d", st)
					return
				}
				if i%3 != 2 {
					m.ackedPOST++
				}
				ack()
			}
		}()

		// Admin changes: create a user and an API key, revoke the key
		// created before, delete the user created before.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				u := &adminUser{email: fmt.Sprintf("admin-%d-%d@example.com", cycle, i), pw: crashPassword(), unsure: true}
				adminUsers = append(adminUsers, u)
				st, _, err := crashDo("POST", admin+"/admin/v1/users", adminHdr, map[string]string{"emailAddress": u.email, "password": u.pw})
				if err != nil {
					return
				}
				if st != http.StatusCreated {
					t.Errorf("admin create user: %d", st)
					return
				}
				u.created, u.unsure = true, false
				ack()

				ak := &adminKey{unsure: true}
				adminKeys = append(adminKeys, ak)
				st, body, err := crashDo("POST", admin+"/admin/v1/apikeys", adminHdr, map[string]string{"name": fmt.Sprintf("k%d-%d", cycle, i)})
				if err != nil {
					return
				}
				var out struct{ ID, Key string }
				if st != http.StatusCreated || json.Unmarshal(body, &out) != nil {
					t.Errorf("admin create key: %d %s", st, body)
					return
				}
				ak.id, ak.key, ak.unsure = out.ID, out.Key, false
				ack()

				if n := len(adminKeys); n >= 2 && !adminKeys[n-2].unsure && !adminKeys[n-2].revoked {
					prev := adminKeys[n-2]
					prev.unsure = true
					st, _, err := crashDo("DELETE", admin+"/admin/v1/apikeys/"+prev.id, adminHdr, nil)
					if err != nil {
						return
					}
					if st != http.StatusNoContent {
						t.Errorf("admin revoke key: %d", st)
						return
					}
					prev.revoked, prev.unsure = true, false
					ack()
				}
				if n := len(adminUsers); n >= 2 && adminUsers[n-2].created && !adminUsers[n-2].unsure && !adminUsers[n-2].deleted {
					prev := adminUsers[n-2]
					prev.unsure = true
					st, _, err := crashDo("POST", admin+"/admin/v1/users/delete", adminHdr, map[string]string{"emailAddress": prev.email})
					if err != nil {
						return
					}
					if st != http.StatusNoContent {
						t.Errorf("admin delete user: %d", st)
						return
					}
					prev.deleted, prev.unsure = true, false
					ack()
				}
			}
		}()

		wg.Wait()
		select {
		case <-killed:
		default:
			t.Fatalf("cycle %d: every client stopped before the kill (log:\n%s)", cycle, p.Log.String())
		}
		p.cmd.Wait()
		if t.Failed() {
			t.FailNow()
		}
		checkStore(t, dir)

		p = startBinary(t, dir, args...)
		// Everything queued before the kill goes out now.
		waitFor(t, func() bool {
			return strings.HasSuffix(metricLine(t, p.Admin, "safereset_mail_outbox_depth"), " 0")
		}, "the outbox to drain after the restart")
		t.Logf("cycle %d: killed after %d acknowledged responses", cycle, k)
		crashCheck(t, p, srv, key, users, mailers, adminUsers, adminKeys)
	}
	if code := p.term(t); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d", code)
	}
	checkStore(t, dir)
}

// crashCheck verifies the invariants after a restart and settles each
// account's state for the next cycle.
func crashCheck(t *testing.T, p *proc, srv *mailtest.Server, key string, users []*resetUser, mailers []*mailOnly,
	adminUsers []*adminUser, adminKeys []*adminKey) {
	t.Helper()
	byTo, count := deliveredTokens(srv)
	dups := 0
	for _, n := range count {
		if n > 2 {
			t.Errorf("a token mail was delivered %d times (at most one duplicate)", n)
		}
		dups += n - 1
	}
	resets, lost := 0, 0
	for _, m := range mailers {
		if got := len(byTo[m.email]); got < m.ackedPOST || got > m.sentPOST {
			t.Errorf("%s: %d token mails for %d acknowledged (%d sent) requests", m.email, got, m.ackedPOST, m.sentPOST)
		}
	}
	for _, u := range users {
		before := len(u.tokens)
		u.tokens = byTo[u.email]
		if len(u.tokens) < u.ackedPOST {
			t.Errorf("%s: %d token mails for %d acknowledged requests", u.email, len(u.tokens), u.ackedPOST)
		}
		// Exactly one password ever tried works, and it is the last
		// acknowledged one or the one whose answer was lost.
		var working []string
		for _, pw := range u.tried {
			if p.verify(u.email, pw) {
				working = append(working, pw)
			}
		}
		if len(working) != 1 {
			t.Fatalf("%s: %d of its passwords work, want exactly 1", u.email, len(working))
		}
		switch working[0] {
		case u.current:
			if u.pending != "" {
				lost++ // in flight at the kill, did not commit
			}
		case u.pending:
			lost++
			// The reset committed; its answer was lost with the process.
			u.current, u.consumed = u.pending, before
		default:
			t.Fatalf("%s: a password that was neither acknowledged nor in flight works", u.email)
		}
		u.pending = ""
		resets += len(u.tried) - 1
		// Tokens consumed by a committed reset stay dead.
		for _, tok := range u.tokens[:u.consumed] {
			pw := crashPassword()
			r := p.patch(key, u.email, pw, pw, tok)
			if r.Status != http.StatusBadRequest || !strings.Contains(strings.Join(r.Codes(), " "), "ER352") {
				t.Fatalf("%s: a consumed token answered %d %v after the restart", u.email, r.Status, r.Codes())
			}
		}
	}
	t.Logf("  %d token mails (%d duplicate deliveries), %d resets tried so far, %d resets in flight at the kill",
		len(count), dups, resets, lost)
	for _, u := range adminUsers {
		if u.unsure || !u.created {
			continue
		}
		var out struct{ Match bool }
		st := p.admin("POST", "/admin/v1/users/verify", map[string]string{"emailAddress": u.email, "password": u.pw}, &out)
		switch {
		case u.deleted && st != http.StatusNotFound:
			t.Errorf("%s: acknowledged delete lost (verify %d)", u.email, st)
		case !u.deleted && (st != http.StatusOK || !out.Match):
			t.Errorf("%s: acknowledged create lost (verify %d %v)", u.email, st, out.Match)
		}
	}
	for _, k := range adminKeys {
		if k.unsure || k.key == "" {
			continue
		}
		r := p.patch(k.key, "nobody@example.com", strongPW, strongPW, strings.Repeat("0", 32))
		switch {
		case k.revoked && r.Status != http.StatusUnauthorized:
			t.Errorf("acknowledged revoke lost: the key answered %d", r.Status)
		case !k.revoked && r.Status == http.StatusUnauthorized:
			t.Errorf("acknowledged API key lost: %d %v", r.Status, r.Codes())
		}
	}
}
