package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/mail/mailtest"
)

// TestMetrics_CountEveryCode drives requests that produce as many codes as
// can be produced from outside, tallies the codes each answer carries, and
// checks safereset_responses_total moved by exactly that tally for every
// code of the catalog (and stayed put for the rest).
func TestMetrics_CountEveryCode(t *testing.T) {
	srv := mailtest.Start(t)
	s := startServer(t, "", smtpArgs(srv, "--token-ttl", "3s", "--rate-request-email", "3-H")...)
	s.addUser(alice, oldPW)
	s.addUser(bob, oldPW)
	key := s.apiKey("metrics")

	codes := append([]safereset.Code{safereset.CodeOK}, func() []safereset.Code {
		var cs []safereset.Code
		for _, e := range safereset.Catalog() {
			cs = append(cs, e.Code)
		}
		return cs
	}()...)
	before := map[string]float64{}
	for _, route := range []string{"request", "reset"} {
		for _, c := range codes {
			before[route+"/"+string(c)] = responses(t, s.Admin, route, string(c))
		}
	}
	want := map[string]float64{}
	tally := func(route string, r response) {
		cs := r.Codes()
		if len(cs) == 0 && r.Status < 300 {
			cs = []string{"OK"}
		}
		for _, c := range cs {
			want[route+"/"+c]++
		}
	}
	send := func(method string, headers map[string]string, body string) {
		route := map[string]string{"POST": "request", "PATCH": "reset"}[method]
		tally(route, s.do(method, "/api/v1/user/reset-password", headers, body))
	}
	k := map[string]string{"X-Api-Key": key}
	patch := func(email, pw, verify, token string) string {
		b, _ := json.Marshal(map[string]string{"emailAddress": email, "password": pw, "passwordVerify": verify, "token": token})
		return string(b)
	}

	send("POST", k, `{"emailAddress":"alice@example.com"}`)                                   // OK
	send("POST", k, `{}`)                                                                     // ER003
	send("POST", k, `{"emailAddress":"x"}`)                                                   // ER001
	send("POST", k, `{"emailAddress":"a@example.com","p":"`+strings.Repeat("x", 20<<10)+`"}`) // ER413
	send("POST", nil, `{}`)                                                                   // ER802 ER806
	send("POST", map[string]string{"X-Api-Key": ""}, `{}`)                                    // ER806
	send("POST", map[string]string{"X-Api-Key": "nope"}, `{}`)                                // ER805
	send("POST", map[string]string{"X-Api-Key": key, "Authorization": "Bearer x"}, `{}`)      // ER803
	send("POST", map[string]string{"Authorization": "Basic x"}, `{}`)                         // ER800
	send("POST", k, `{"emailAddress":"bob@example.com"}`)
	send("POST", k, `{"emailAddress":"bob@example.com"}`)
	send("POST", k, `{"emailAddress":"bob@example.com"}`)
	send("POST", k, `{"emailAddress":"bob@example.com"}`) // ER429
	msgs := srv.WaitFor(4, 20*time.Second)                // alice's and bob's three
	var tok string
	for _, m := range msgs {
		if m.To[0] == alice {
			tok, _ = tokenFrom(t, m)
		}
	}

	send("PATCH", k, `[]`)                                                      // ER003 ER004 ER351
	send("PATCH", k, patch("x", "short", "other", "nope"))                      // ER001 ER122 ER350 ER352
	send("PATCH", k, patch(alice, strings.Repeat("Zq9!", 17), "", tok))         // ER123 ER350
	send("PATCH", k, patch(alice, "password1", "password1", tok))               // ER349
	send("PATCH", k, patch(alice, strongPW, strongPW, strings.Repeat("f", 32))) // ER352
	// Tokens live three seconds. A fresh one is answered ER355 because
	// SMTP is down for the confirmation (fresh, so a slow machine cannot
	// let it expire first); the next is used only once it has expired.
	// freshToken waits for a mail to alice carrying a token not seen yet:
	// the outbox delivers at least once, so a mail whose acknowledgement
	// was cut by srv.Stop may arrive again after the restart.
	seen := map[string]bool{tok: true}
	freshToken := func() string {
		for n := len(srv.Messages()); ; n++ {
			msgs := srv.WaitFor(n, 20*time.Second)
			for _, m := range msgs {
				if m.To[0] != alice {
					continue
				}
				if tk, _ := tokenFrom(t, m); !seen[tk] {
					seen[tk] = true
					return tk
				}
			}
		}
	}
	send("POST", k, `{"emailAddress":"alice@example.com"}`)
	tok1 := freshToken()
	srv.Stop()
	send("PATCH", k, patch(alice, strongPW, strongPW, tok1)) // ER355
	srv.Restart()
	send("POST", k, `{"emailAddress":"alice@example.com"}`)
	tok2 := freshToken()
	time.Sleep(3100 * time.Millisecond) // past the three-second token lifetime
	r := s.do("PATCH", "/api/v1/user/reset-password", k, patch(alice, otherPW, otherPW, tok2))
	if !slices.Contains(r.Codes(), "ER353") {
		t.Errorf("expired token answered %d %v, want ER353", r.Status, r.Codes())
	}
	tally("reset", r)
	if _, err := http.Get(s.Base + "/nope"); err != nil { // counted nowhere
		t.Fatal(err)
	}

	for _, route := range []string{"request", "reset"} {
		for _, c := range codes {
			id := route + "/" + string(c)
			if got := responses(t, s.Admin, route, string(c)) - before[id]; got != want[id] {
				t.Errorf("%s: counter moved by %v, answers carried it %v times", id, got, want[id])
			}
		}
	}
	for _, c := range []string{"reset/ER353", "reset/ER355", "request/ER429", "reset/ER349", "request/ER413"} {
		if want[c] == 0 {
			t.Errorf("%s was never produced: the test drove the wrong requests", c)
		}
	}
}
