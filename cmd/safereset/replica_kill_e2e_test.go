package main

import (
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safereset/safereset/mail/mailtest"
)

var replicaKills = flag.Int("replicakill.kills", 0, "SIGKILL cycles in TestPostgres_KillReplicaUnderLoad (default 3, or SAFERESET_REPLICAKILL_KILLS)")

// Three real-binary replicas on one PostgreSQL with resets and token
// requests running on all of them. Each cycle one replica (a different one
// each time) gets SIGKILL after the k-th acknowledged response, k varying
// per cycle as in TestCrashLoop, so the kill lands before, inside and
// after other requests' commits; the other two carry on. Then, on both
// survivors (crashCheck, as for the single-node crash loop): every
// acknowledged reset holds and each account has exactly one working
// password — the acknowledged one, or the one in flight on the killed
// replica; consumed tokens stay dead; every acknowledged token request's
// mail is delivered (the killed replica's claimed mail by another after
// the lease), at most twice. The killed replica restarts for the next
// cycle. 3 cycles by default; -replicakill.kills=10 or
// SAFERESET_REPLICAKILL_KILLS=10 for more.
func TestPostgres_KillReplicaUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: three real binaries under load")
	}
	kills := killCount(t, *replicaKills, "SAFERESET_REPLICAKILL_KILLS")
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

	// after is how many more acknowledged answers the survivors must give
	// once the victim is dead.
	const after = 20
	for cycle := range kills {
		victim := rs[cycle%3]
		k := int64(killAfter[cycle%len(killAfter)] + cycle/len(killAfter))
		var acks atomic.Int64
		killed, more, stop := make(chan struct{}), make(chan struct{}), make(chan struct{})
		var killOnce, moreOnce sync.Once
		ack := func() {
			switch n := acks.Add(1); {
			case n == k:
				killOnce.Do(func() { victim.cmd.Process.Kill(); close(killed) })
			case n == k+after:
				moreOnce.Do(func() { close(more) })
			}
		}
		var wg sync.WaitGroup
		for i, u := range users {
			// Each cycle moves the accounts on to another replica.
			base := rs[(i+cycle)%3].Base
			wg.Go(func() { driveResets(t, base, key, srv, u, ack, stop) })
		}
		select {
		case <-killed:
		case <-time.After(2 * time.Minute):
			t.Fatalf("cycle %d: no kill: the load never reached the kill point", cycle)
		}
		victim.cmd.Wait()
		// The survivors keep serving: wait for more acknowledged answers.
		select {
		case <-more:
		case <-time.After(2 * time.Minute):
			t.Errorf("cycle %d: the surviving replicas acknowledged nothing after the kill", cycle)
		}
		close(stop)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		var survivors []*proc
		for _, r := range rs {
			if r != victim {
				survivors = append(survivors, r)
			}
		}
		// The killed replica's claimed mail goes out from another once its
		// lease ends; wait for the outbox to drain.
		waitFor(t, func() bool {
			return strings.HasSuffix(metricLine(t, survivors[0].Admin, "safereset_mail_outbox_depth"), " 0")
		}, "the outbox to drain on the survivors")
		t.Logf("cycle %d: killed replica %d after %d acknowledged responses, %d in all", cycle, cycle%3, k, acks.Load())
		for _, r := range survivors {
			crashCheck(t, r, srv, key, users, nil, nil, nil)
		}
		rs[cycle%3] = startBinary(t, "", args...)
	}
}
