package main

import (
	"fmt"
	"testing"

	"github.com/safereset/safereset/internal/redistest"
)

// Three replicas on one PostgreSQL behind a real HAProxy, round-robin,
// with the limits in the database and once in Redis: 12 POSTs for one
// address through the balancer give 3×202 and 9×429 (an unknown address
// the same answers), HAProxy spread them evenly, and one token raced
// through the balancer on every replica resets once.
func TestPostgres_BehindHAProxy(t *testing.T) {
	for _, mode := range []string{"database", "redis"} {
		t.Run(mode, func(t *testing.T) {
			url := migratedDB(t)
			extra := []string{"--database-url", url, "--rate-ip", "0", "--rate-reset-email", "0", "--request-min-duration", "0"}
			if mode == "redis" {
				extra = append(extra, "--ratelimit-url", redistest.Start(t, 0).URL())
			}
			var rs []*testServer
			for range 3 {
				rs = append(rs, startServer(t, "", extra...))
			}
			lb := startHAProxy(t, rs)
			front := lb.via(rs[0])
			front.addUser(alice, oldPW)
			key := front.apiKey("haproxy")
			before := lb.requests(t, 3)

			for _, addr := range []string{alice, "nobody@example.com"} {
				got := map[int]int{}
				for range 12 {
					got[front.post(key, addr).Status]++
				}
				if got[202] != 3 || got[429] != 9 || len(got) != 2 {
					t.Errorf("%s: 12 POSTs through haproxy gave %v; want 3×202 and 9×429", addr, got)
				}
			}
			after := lb.requests(t, 3)
			for i := range rs {
				if n := after[i] - before[i]; n != 8 {
					t.Errorf("replica %d got %d of the 24 POSTs through haproxy, want 8 (round-robin): %v → %v", i, n, before, after)
				}
			}

			var toks []string
			waitFor(t, func() bool { toks = allTokens(rs, alice); return len(toks) == 3 }, "alice's three token mails")
			// All three are live (three outstanding); race one, and the
			// reset must consume the other two as well.
			tok := toks[len(toks)-1]
			const n = 30
			bodies := make([]map[string]string, n)
			for i := range bodies {
				pw := fmt.Sprintf("%s-lb-%02d", strongPW, i)
				bodies[i] = map[string]string{"emailAddress": alice, "password": pw, "passwordVerify": pw, "token": tok}
			}
			statuses := concurrentPatches(t, lb.Base, key, bodies)
			won := -1
			for i, st := range statuses {
				switch {
				case st == 204 && won >= 0:
					t.Fatalf("two resets succeeded with one token (%d and %d)", won, i)
				case st == 204:
					won = i
				case st != 400:
					t.Errorf("PATCH %d: status %d", i, st)
				}
			}
			if won < 0 {
				t.Fatal("no reset succeeded")
			}
			for i, r := range rs {
				if !r.verify(alice, fmt.Sprintf("%s-lb-%02d", strongPW, won)) {
					t.Errorf("replica %d does not see the winner's password", i)
				}
			}
			for _, other := range toks[:len(toks)-1] {
				if r := front.patch(key, alice, strongPW+"-again", strongPW+"-again", other); r.Status != 400 {
					t.Errorf("another token of alice's after the reset: status %d, want 400 (a reset consumes every token)", r.Status)
				}
			}
		})
	}
}
