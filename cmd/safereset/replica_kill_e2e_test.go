package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safereset/safereset/mail/mailtest"
)

// Three real-binary replicas on one PostgreSQL with resets and token
// requests running on all of them; one replica gets SIGKILL after the
// k-th acknowledged response, the other two carry on. Then (crashCheck,
// as for the single-node crash loop): every acknowledged reset holds and
// each account has exactly one working password — the acknowledged one,
// or the one in flight on the killed replica; consumed tokens stay dead;
// every acknowledged token request's mail is delivered (the killed
// replica's claimed mail by another after the lease), at most twice.
func TestPostgres_KillReplicaUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: three real binaries under load")
	}
	url := migratedDB(t)
	srv := mailtest.Start(t)
	args := smtpArgs(srv, "--database-url", url, "--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0",
		"--request-min-duration", "1ms", "--smtp-timeout", "2s", "--mail-lease", "4s")
	var rs []*proc
	for range 3 {
		rs = append(rs, startBinary(t, "", args...))
	}
	key := rs[0].apiKey("replica-kill")
	users := make([]*resetUser, 6)
	for i := range users {
		pw := crashPassword()
		users[i] = &resetUser{email: fmt.Sprintf("replica%d@example.com", i), tried: []string{pw}, current: pw}
		rs[1].addUser(users[i].email, pw)
	}

	const k, after = 7, 20
	var acks atomic.Int64
	killed, more, stop := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var killOnce, moreOnce sync.Once
	ack := func() {
		switch n := acks.Add(1); {
		case n == k:
			killOnce.Do(func() { rs[0].cmd.Process.Kill(); close(killed) })
		case n == k+after:
			moreOnce.Do(func() { close(more) })
		}
	}
	apiHdr := map[string]string{"X-Api-Key": key}
	var wg sync.WaitGroup
	for i, u := range users {
		base := rs[i%3].Base
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, _, err := crashDo("POST", base+"/api/v1/user/reset-password", apiHdr, map[string]string{"emailAddress": u.email})
				if err != nil {
					return // its replica is dead
				}
				if st != http.StatusAccepted {
					t.Errorf("token request for %s: %d", u.email, st)
					return
				}
				u.ackedPOST++
				ack()
				var tok string
				deadline := time.Now().Add(30 * time.Second)
				for tok == "" {
					if time.Now().After(deadline) {
						t.Errorf("%s: no mail for an acknowledged token request", u.email)
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
		})
	}
	select {
	case <-killed:
	case <-time.After(2 * time.Minute):
		t.Fatal("no kill: the load never reached the kill point")
	}
	rs[0].cmd.Wait()
	// The survivors keep serving: wait for more acknowledged answers.
	select {
	case <-more:
	case <-time.After(2 * time.Minute):
		t.Error("the surviving replicas acknowledged nothing after the kill")
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// The killed replica's claimed mail goes out from another once its
	// lease ends; wait for the outbox to drain.
	waitFor(t, func() bool {
		return strings.HasSuffix(metricLine(t, rs[1].Admin, "safereset_mail_outbox_depth"), " 0")
	}, "the outbox to drain on the survivors")
	t.Logf("killed replica 0 after %d acknowledged responses, %d in all", k, acks.Load())
	crashCheck(t, rs[1], srv, key, users, nil, nil, nil)
	crashCheck(t, rs[2], srv, key, users, nil, nil, nil)
}
