package main

// Security tests: each one is an attack against the real server (in-process
// `serve`, or the built binary where the process itself is measured).
// They are split by theme into security_*_e2e_test.go; this file: nobody can
// tell a known address from an unknown one, by answer or by time.

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

// postTiming is what measurePostTiming saw, client- and server-side.
type postTiming struct {
	known, unknown, srvKnown, srvUnknown []time.Duration
}

func (p postTiming) String() string {
	q := quantile
	return fmt.Sprintf("client: known median %v (p10 %v, p90 %v), unknown median %v (p10 %v, p90 %v); "+
		"server: known median %v (p10 %v, p90 %v), unknown median %v (p10 %v, p90 %v)",
		q(p.known, .5), q(p.known, .1), q(p.known, .9), q(p.unknown, .5), q(p.unknown, .1), q(p.unknown, .9),
		q(p.srvKnown, .5), q(p.srvKnown, .1), q(p.srvKnown, .9), q(p.srvUnknown, .5), q(p.srvUnknown, .1), q(p.srvUnknown, .9))
}

// measurePostTiming sends n POSTs for a known and n for an unknown address,
// interleaved in random order, pause apart (an attacker probing one address
// spaces requests out: the per-address limit is 3 an hour). Server-side
// times come from duration_ms of the request log lines.
func measurePostTiming(t *testing.T, n int, pause time.Duration) postTiming {
	t.Helper()
	s := startServer(t, "", "--rate-request-email", "0", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("timing")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	h := map[string]string{"X-Api-Key": key}
	var p postTiming
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		order := []string{alice, "nobody-here@example.com"}
		if rng.Intn(2) == 0 {
			order[0], order[1] = order[1], order[0]
		}
		for _, addr := range order {
			time.Sleep(pause) // spacing requests, not waiting for an effect
			kind := map[bool]string{true: "known", false: "unknown"}[addr == alice]
			h["X-Request-Id"] = fmt.Sprintf("%s-%d", kind, i)
			d, st := timedDo(t, client, "POST", s.Base+resetPath, h, secJSON(map[string]any{"emailAddress": addr}))
			if st != 202 {
				t.Fatalf("POST %d", st)
			}
			if addr == alice {
				p.known = append(p.known, d)
			} else {
				p.unknown = append(p.unknown, d)
			}
		}
	}
	srv := serverDurations(t, s.Log.String())
	p.srvKnown, p.srvUnknown = srv["known"], srv["unknown"]
	return p
}

// TestSecurity_PostEnumerationTiming measures POST for a known and an
// unknown address, 150 each, interleaved in random order and 5 ms apart
// (an attacker probing one address spaces requests out). A known address
// does more work than an unknown one, which would enumerate accounts by
// timing; both answer no sooner than the 25 ms floor, and the medians must
// stay within 15%.
func TestSecurity_PostEnumerationTiming(t *testing.T) {
	p := measurePostTiming(t, 150, 5*time.Millisecond)
	t.Logf("POST timing over 150 each, 5 ms apart: %v", p)
	km, um := quantile(p.known, .5), quantile(p.unknown, .5)
	if km > um*115/100 || um > km*115/100 {
		t.Errorf("known median %v vs unknown %v: timing oracle", km, um)
	}
}

// serverDurations groups the duration_ms of request log lines by the
// prefix of their request id (before the first '-').
func serverDurations(t *testing.T, log string) map[string][]time.Duration {
	t.Helper()
	out := map[string][]time.Duration{}
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Msg        string  `json:"msg"`
			RequestID  string  `json:"request_id"`
			DurationMS float64 `json:"duration_ms"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "request" {
			continue
		}
		kind, _, ok := strings.Cut(l.RequestID, "-")
		if ok {
			out[kind] = append(out[kind], time.Duration(l.DurationMS*float64(time.Millisecond)))
		}
	}
	if len(out) == 0 {
		t.Fatal("no request log lines")
	}
	return out
}

// TestSecurity_PatchEnumeration: an unknown address with a well-formed
// token and a known address with a wrong token get the same answer, byte
// for byte (but for Date and the rate-limit reset second), and about the
// same time.
func TestSecurity_PatchEnumeration(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("penum")
	wrong := strings.Repeat("0f", 16)
	norm := func(h http.Header) http.Header {
		h = h.Clone()
		h.Del("Date")
		h.Del("X-Ratelimit-Reset")
		return h
	}
	for _, pw := range []string{strongPW, "", "password1"} {
		hd := map[string]string{"X-Api-Key": key, "X-Request-Id": "same"}
		a := s.do("PATCH", resetPath, hd, secPatchBody(alice, pw, wrong))
		b := s.do("PATCH", resetPath, hd, secPatchBody("nobody-here@example.com", pw, wrong))
		if a.Status != b.Status || string(a.Body) != string(b.Body) || fmt.Sprint(norm(a.Header)) != fmt.Sprint(norm(b.Header)) {
			t.Fatalf("password %q: known %d %s %v\nunknown %d %s %v", pw, a.Status, a.Body, a.Header, b.Status, b.Body, b.Header)
		}
		if !a.hasCode(safereset.ER352) {
			t.Fatalf("password %q: %v", pw, a.Codes())
		}
	}
	// Timing, without a password so the strength estimate adds no noise.
	client := &http.Client{}
	h := map[string]string{"X-Api-Key": key}
	const n = 200
	var known, unknown []time.Duration
	for i := 0; i < n; i++ {
		for j, addr := range []string{alice, "nobody-here@example.com"} {
			if i%2 == 1 {
				addr = []string{"nobody-here@example.com", alice}[j]
			}
			d, st := timedDo(t, client, "PATCH", s.Base+resetPath, h, secPatchBody(addr, "", wrong))
			if st != 400 {
				t.Fatalf("PATCH %d", st)
			}
			if addr == alice {
				known = append(known, d)
			} else {
				unknown = append(unknown, d)
			}
		}
	}
	km, um := quantile(known, 0.5), quantile(unknown, 0.5)
	t.Logf("PATCH (wrong token) timing over %d each: known median %v p90 %v; unknown median %v p90 %v",
		n, km, quantile(known, 0.9), um, quantile(unknown, 0.9))
	if km > 3*um+20*time.Millisecond || um > 3*km+20*time.Millisecond {
		t.Errorf("gross timing difference: known %v vs unknown %v", km, um)
	}
}

// outboxMails returns every .eml file in the outbox.
func outboxMails(t *testing.T, s *testServer) []string {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(s.DataDir, "outbox"))
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") {
			b, err := os.ReadFile(filepath.Join(s.DataDir, "outbox", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

var toHeaderRE = regexp.MustCompile(`(?m)^To: (.*)\r?$`)

// TestSecurity_UnicodeEmails: look-alike spellings of stored addresses
// (Kelvin sign, dotless i, fullwidth, zero-width joiner, RTL override,
// Cyrillic homoglyphs, combining marks) reach no account, send no mail to
// anybody but the stored addresses, cannot use a real user's token, and
// share the real address's rate-limit bucket.
func TestSecurity_UnicodeEmails(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0")
	users := []string{"kelvin@example.com", "admin@example.com", alice}
	for _, u := range users {
		s.addUser(u, oldPW)
	}
	key := s.apiKey("unicode")
	s.post(key, "kelvin@example.com")
	kTok := s.waitToken("kelvin@example.com", 1)
	looks := []string{
		"\u212aelvin@example.com",       // Kelvin sign
		"kelvin@example.com\u200d",      // zero-width joiner
		"kel\u200dvin@example.com",      // zero-width joiner inside
		"\u202ekelvin@example.com",      // RTL override
		"ｋｅｌｖｉｎ@example.com",            // fullwidth
		"kelvin@ｅｘａｍｐｌｅ.com",            // fullwidth domain
		"adm\u0131n@example.com",        // dotless i
		"ADM\u0130N@example.com",        // dotted capital I
		"\u0430lice@example.com",        // Cyrillic a
		"alice@ex\u0430mple.com",        // Cyrillic a in the domain
		"alice@xn--exmple-cua.com",      // punycode of the above
		"a\u0301lice@example.com",       // combining acute
		"alice@example.com\u00ad",       // soft hyphen
		"alice\ufeff@example.com",       // BOM
		"kelvin@example.com\u0000",      // NUL
		"kelvin@example.com\ufffd",      // replacement character
		"kelvin@example.com.",           // trailing dot
		"kelvin@example.com\u180e",      // Mongolian vowel separator
		"\u1d0belvin@example.com",       // small capital K
		"kelvin@example\u3002com",       // ideographic full stop
		"kelvin@example\uff0ecom",       // fullwidth full stop
		"k\u0065\u0301lvin@example.com", // decomposed e-acute
	}
	for _, v := range looks {
		r := s.post(key, v)
		if r.Status != 202 && !(r.Status == 400 && sameCodes(r.Codes(), safereset.ER001)) {
			t.Errorf("POST %q: %d %v", v, r.Status, r.Codes())
		}
		r = s.patch(key, v, strongPW, strongPW, kTok)
		if r.Status != 400 || !(r.hasCode(safereset.ER352) || r.hasCode(safereset.ER001)) {
			t.Errorf("PATCH %q with kelvin's token: %d %v", v, r.Status, r.Codes())
		}
	}
	// Give the worker time to write anything it was (wrongly) given: one
	// more real request, whose mail is written after the earlier ones.
	s.post(key, alice)
	s.waitToken(alice, 1)
	for _, m := range outboxMails(t, s) {
		to := toHeaderRE.FindStringSubmatch(m)
		if to == nil {
			t.Fatalf("mail without To:\n%s", m)
		}
		addr := strings.Trim(strings.TrimSpace(to[1]), "<>")
		if addr != "kelvin@example.com" && addr != alice {
			t.Errorf("mail to %q", to[1])
		}
	}
	if n := len(s.outboxTokens("kelvin@example.com")); n != 1 {
		t.Errorf("kelvin got %d token mails, want 1 (look-alikes must reach nobody)", n)
	}
	if !s.verify("kelvin@example.com", oldPW) || !s.verify("admin@example.com", oldPW) || !s.verify(alice, oldPW) {
		t.Fatal("a look-alike changed a password")
	}
	if r := s.patch(key, "kelvin@example.com", strongPW, strongPW, kTok); r.Status != 204 {
		t.Fatalf("kelvin's own token: %d %v", r.Status, r.Codes())
	}
	// An admin cannot create a look-alike of an existing user either...
	// but distinct non-ASCII addresses are distinct accounts (documented).
	if st := s.admin("POST", "/admin/v1/users", map[string]string{"emailAddress": "KELVIN@example.com", "password": oldPW}, nil); st != 409 {
		t.Errorf("ASCII case variant of an existing user: %d, want 409", st)
	}
}
