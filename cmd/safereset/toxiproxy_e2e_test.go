package main

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
)

// Two replicas reach PostgreSQL through toxiproxy. The link is cut while
// a token is raced on both replicas: every answer is a clean one (204,
// 400, or the documented 500/503), at most one reset succeeds, and the
// replicas report not ready while it is down. After it comes back: full
// service, and the token was consumed at most once in all — if no reset
// got through during the outage exactly one does after, and the stored
// password is the one acknowledged.
func TestPostgres_ToxiproxyOutageUnderLoad(t *testing.T) {
	direct := migratedDB(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startToxiproxy(t, u.Host)
	u.Host = proxy.Listen
	extra := []string{"--database-url", u.String(), "--rate-reset-email", "0", "--rate-request-email", "0", "--rate-ip", "0"}
	rs := []*testServer{startServer(t, "", extra...), startServer(t, "", extra...)}
	rs[0].addUser(alice, oldPW)
	key := rs[0].apiKey("toxiproxy")
	if r := rs[1].post(key, alice); r.Status != 202 {
		t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	var tok string
	waitFor(t, func() bool {
		toks := allTokens(rs, alice)
		if len(toks) == 1 {
			tok = toks[0]
		}
		return tok != ""
	}, "the token mail")

	// The race and the cut start together: the requests are released and
	// the proxy disabled at once, so some are in flight when it drops.
	const n = 40
	pw := func(i int) string { return fmt.Sprintf("%s-tp-%02d", strongPW, i) }
	statuses := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			r := rs[i%2].patch(key, alice, pw(i), pw(i), tok)
			statuses[i] = r.Status
			switch {
			case r.Status == 204 || r.Status == 400:
			case r.Status == 500 && sameCodes(r.Codes(), "ER999"):
			case r.Status == 503 && sameCodes(r.Codes(), "ER354"):
			default:
				t.Errorf("PATCH %d during the outage: %d %s", i, r.Status, r.Body)
			}
		})
	}
	close(start)
	proxy.SetEnabled(t, false)
	wg.Wait()
	for i, s := range rs {
		if st := s.readyz(); st != http.StatusServiceUnavailable {
			t.Errorf("replica %d /readyz with the database down: %d, want 503", i, st)
		}
	}
	if r := rs[0].post(key, alice); r.Status != 503 || !sameCodes(r.Codes(), "ER354") {
		t.Errorf("POST with the database down: %d %s; want 503 ER354", r.Status, r.Body)
	}
	won := -1
	for i, st := range statuses {
		if st == 204 {
			if won >= 0 {
				t.Fatalf("two resets succeeded with one token across the outage (%d and %d)", won, i)
			}
			won = i
		}
	}

	proxy.SetEnabled(t, true)
	for i, s := range rs {
		waitFor(t, func() bool { return s.readyz() == http.StatusOK }, fmt.Sprintf("replica %d /readyz 200 after the outage", i))
	}
	after := make([]map[string]string, n)
	for i := range after {
		after[i] = map[string]string{"emailAddress": alice, "password": pw(n + i), "passwordVerify": pw(n + i), "token": tok}
	}
	// A concurrent race on each replica in turn.
	half := concurrentPatches(t, rs[0].Base, key, after[:n/2])
	half = append(half, concurrentPatches(t, rs[1].Base, key, after[n/2:])...)
	for i, st := range half {
		switch {
		case st == 204 && won >= 0:
			t.Fatalf("the token worked again after the outage (PATCH %d; %d had won during it)", n+i, won)
		case st == 204:
			won = n + i
		case st != 400:
			t.Errorf("PATCH %d after the outage: status %d", n+i, st)
		}
	}
	if won < 0 {
		t.Fatal("the token never worked: the outage lost it")
	}
	for i, s := range rs {
		if !s.verify(alice, pw(won)) {
			t.Errorf("replica %d: the acknowledged password (PATCH %d) is not the stored one", i, won)
		}
	}
	// Full service: a new request and reset work on both replicas.
	if r := rs[0].post(key, alice); r.Status != 202 {
		t.Fatalf("POST after the outage: %d %s", r.Status, r.Body)
	}
}
