package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

const (
	alice    = "alice@example.com"
	bob      = "bob@example.com"
	oldPW    = "Initial-Passw0rd-xyz"
	strongPW = "kDWPe4qf$&mgM26&8hX"
	otherPW  = "vT9#qLm2!zR7wXp4&nB"
)

func sameCodes(got []string, want ...safereset.Code) bool {
	w := make([]string, len(want))
	for i, c := range want {
		w[i] = string(c)
	}
	if len(got) == 0 && len(w) == 0 {
		return true
	}
	sortStrings(w)
	return reflect.DeepEqual(got, w)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestReset_Walkthrough is the README's five-minute walk-through: create a
// user and a key, request a token, read it from the outbox, reset.
func TestReset_Walkthrough(t *testing.T) {
	s := startServer(t, "")
	s.addUser(alice, oldPW)
	key := s.apiKey("webapp")

	if r := s.post(key, "Alice@Example.COM "); r.Status != http.StatusAccepted || len(r.Body) != 0 {
		t.Fatalf("POST: %d %s", r.Status, r.Body)
	}
	token := s.waitToken(alice, 1)

	r := s.patch(key, alice, strongPW, strongPW, token)
	if r.Status != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	if !s.verify(alice, strongPW) || s.verify(alice, oldPW) {
		t.Fatal("new password does not verify, or old one still does")
	}
	// The confirmation mail was written, and carries no token.
	conf := s.mailsTo(alice, "changed")
	if len(conf) != 1 {
		t.Fatalf("confirmation mails: %d", len(conf))
	}
	if strings.Contains(conf[0], token) {
		t.Error("confirmation mail carries the token")
	}
	// Reuse of the consumed token.
	if r := s.patch(key, alice, otherPW, otherPW, token); r.Status != 400 || !sameCodes(r.Codes(), safereset.ER352) {
		t.Fatalf("reuse: %d %v", r.Status, r.Codes())
	}
	if !s.verify(alice, strongPW) {
		t.Fatal("a rejected reuse changed the password")
	}
}

// mailsTo returns the .eml files to addr whose text contains substr.
func (s *testServer) mailsTo(addr, substr string) []string {
	s.t.Helper()
	dir := filepath.Join(s.DataDir, "outbox")
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if strings.Contains(string(b), addr) && strings.Contains(strings.ToLower(string(b)), substr) && !tokenRE.Match(b) {
			out = append(out, string(b))
		}
	}
	return out
}

// TestReset_FieldRules walks every row of SPEC §2.4's field rules; all
// errors are reported together and nothing changes.
func TestReset_FieldRules(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0")
	s.addUser(alice, oldPW)
	s.addUser(bob, oldPW)
	key := s.apiKey("rules")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	s.post(key, bob)
	bobTok := s.waitToken(bob, 1)

	long := strings.Repeat("Zq9!", 16) + "x" // 65 code points
	body := func(fields map[string]any) string { b, _ := json.Marshal(fields); return string(b) }
	E := func(cs ...safereset.Code) []safereset.Code { return cs }
	for _, tc := range []struct {
		name string
		body string
		want []safereset.Code
	}{
		{"AllMissing", `{}`, E(safereset.ER003, safereset.ER004, safereset.ER351)},
		{"NotAnObject", `[1,2]`, E(safereset.ER003, safereset.ER004, safereset.ER351)},
		{"NotJSON", `emailAddress=alice`, E(safereset.ER003, safereset.ER004, safereset.ER351)},
		{"DuplicateKey", `{"emailAddress":"alice@example.com","emailAddress":"alice@example.com","password":"` + strongPW + `","passwordVerify":"` + strongPW + `","token":"` + tok + `"}`,
			E(safereset.ER003, safereset.ER004, safereset.ER351)},
		{"KeyCaseMatters", body(map[string]any{"EmailAddress": alice, "Password": strongPW, "passwordVerify": strongPW, "Token": tok}),
			E(safereset.ER003, safereset.ER004, safereset.ER350, safereset.ER351)},
		{"WrongTypes", body(map[string]any{"emailAddress": 7, "password": true, "passwordVerify": nil, "token": []int{1}}),
			E(safereset.ER003, safereset.ER004, safereset.ER351)},
		{"EmptyStrings", body(map[string]any{"emailAddress": "", "password": "", "passwordVerify": "", "token": ""}),
			E(safereset.ER003, safereset.ER004, safereset.ER351)},
		{"InvalidEmail", body(map[string]any{"emailAddress": "alice@", "password": strongPW, "passwordVerify": strongPW, "token": tok}),
			E(safereset.ER001)},
		{"TooShort", body(map[string]any{"emailAddress": alice, "password": "Ab1!xyz", "passwordVerify": "Ab1!xyz", "token": tok}),
			E(safereset.ER122)},
		{"TooLong", body(map[string]any{"emailAddress": alice, "password": long, "passwordVerify": long, "token": tok}),
			E(safereset.ER123)},
		{"Breached", body(map[string]any{"emailAddress": alice, "password": "qwertyuiop", "passwordVerify": "qwertyuiop", "token": tok}),
			E(safereset.ER349)},
		{"Weak", body(map[string]any{"emailAddress": alice, "password": "aaaaaaaaaa", "passwordVerify": "aaaaaaaaaa", "token": tok}),
			E(safereset.ER349)},
		{"ContainsLocalPart", body(map[string]any{"emailAddress": alice, "password": "xQ7!ALICE#kz92", "passwordVerify": "xQ7!ALICE#kz92", "token": tok}),
			E(safereset.ER349)},
		{"ContainsLocalPartPaddedEmail", body(map[string]any{"emailAddress": " \t" + alice, "password": "alice-Kx9#qLm2vT", "passwordVerify": "alice-Kx9#qLm2vT", "token": tok}),
			E(safereset.ER349)},
		{"Mismatch", body(map[string]any{"emailAddress": alice, "password": strongPW, "passwordVerify": otherPW, "token": tok}),
			E(safereset.ER350)},
		{"VerifyMissing", body(map[string]any{"emailAddress": alice, "password": strongPW, "token": tok}),
			E(safereset.ER350)},
		{"MalformedToken", body(map[string]any{"emailAddress": alice, "password": strongPW, "passwordVerify": strongPW, "token": strings.ToUpper(tok)}),
			E(safereset.ER352)},
		{"UnknownToken", body(map[string]any{"emailAddress": alice, "password": strongPW, "passwordVerify": strongPW, "token": strings.Repeat("ab", 16)}),
			E(safereset.ER352)},
		{"OtherUsersToken", body(map[string]any{"emailAddress": alice, "password": strongPW, "passwordVerify": strongPW, "token": bobTok}),
			E(safereset.ER352)},
		{"TokenForUnknownEmail", body(map[string]any{"emailAddress": "nobody@example.com", "password": strongPW, "passwordVerify": strongPW, "token": tok}),
			E(safereset.ER352)},
		{"TokenNotLookedUpForInvalidEmail", body(map[string]any{"emailAddress": "not-an-address", "password": strongPW, "passwordVerify": strongPW, "token": strings.Repeat("ab", 16)}),
			E(safereset.ER001)},
		{"Everything", body(map[string]any{"emailAddress": "x@", "password": "short", "passwordVerify": "other", "token": "nope"}),
			E(safereset.ER001, safereset.ER122, safereset.ER350, safereset.ER352)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("PATCH", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key}, tc.body)
			if r.Status != 400 || !sameCodes(r.Codes(), tc.want...) {
				t.Fatalf("got %d %v, want 400 %v\nbody: %s", r.Status, r.Codes(), tc.want, r.Body)
			}
			checkEnvelopeBytes(t, r.Body)
		})
	}
	// Nothing changed: both tokens still work.
	if r := s.patch(key, bob, otherPW, otherPW, bobTok); r.Status != 204 {
		t.Fatalf("bob's token unusable after the rejected requests: %d %s", r.Status, r.Body)
	}
	if !s.verify(alice, oldPW) {
		t.Fatal("alice's password changed by a rejected request")
	}
	if r := s.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("alice's token unusable after the rejected requests: %d %s", r.Status, r.Body)
	}
}

// checkEnvelopeBytes compares each entry of an error body byte for byte
// with the catalog (itself pinned to the seed).
func checkEnvelopeBytes(t *testing.T, body []byte) {
	t.Helper()
	var env map[string]map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil || len(env) != 1 || env["errors"] == nil {
		t.Fatalf("not the envelope: %s", body)
	}
	for code, raw := range env["errors"] {
		e, ok := safereset.Lookup(safereset.Code(code))
		if !ok {
			t.Fatalf("unknown code %s", code)
		}
		want := fmt.Sprintf(`{"code":%q,"message":%s,"solution":%s}`, code, jsonString(e.Message), jsonString(e.Solution))
		if string(raw) != want {
			t.Errorf("entry %s:\n got %s\nwant %s", code, raw, want)
		}
	}
}

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestAuthMatrix is SPEC §2.2's table on both routes.
func TestAuthMatrix(t *testing.T) {
	s := startServer(t, "")
	key := s.apiKey("matrix")
	revoked := s.apiKey("old")
	var list []struct{ ID, Name string }
	s.admin("GET", "/admin/v1/apikeys", nil, &list)
	for _, k := range list {
		if k.Name == "old" {
			if st := s.admin("DELETE", "/admin/v1/apikeys/"+k.ID, nil, nil); st != 204 {
				t.Fatalf("revoke: %d", st)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    []safereset.Code
	}{
		{"Neither", nil, []safereset.Code{safereset.ER802, safereset.ER806}},
		{"BothEmpty", map[string]string{"X-Api-Key": "", "Authorization": ""}, []safereset.Code{safereset.ER802, safereset.ER806}},
		{"Both", map[string]string{"X-Api-Key": key, "Authorization": "Bearer abc.def.ghi"}, []safereset.Code{safereset.ER803}},
		{"EmptyKey", map[string]string{"X-Api-Key": ""}, []safereset.Code{safereset.ER806}},
		{"UnknownKey", map[string]string{"X-Api-Key": "sr_" + strings.Repeat("A", 43)}, []safereset.Code{safereset.ER805}},
		{"MalformedKey", map[string]string{"X-Api-Key": "hello"}, []safereset.Code{safereset.ER805}},
		{"RevokedKey", map[string]string{"X-Api-Key": revoked}, []safereset.Code{safereset.ER805}},
		{"BasicScheme", map[string]string{"Authorization": "Basic YWxpY2U6c2VjcmV0"}, []safereset.Code{safereset.ER800}},
		{"BearerEmpty", map[string]string{"Authorization": "Bearer "}, []safereset.Code{safereset.ER800}},
		{"BearerGarbage", map[string]string{"Authorization": "Bearer not-a-jwt"}, []safereset.Code{safereset.ER800}},
	} {
		for _, method := range []string{"POST", "PATCH"} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				// The body is invalid too: a failed authentication returns only its codes.
				r := s.do(method, "/api/v1/user/reset-password", tc.headers, `{}`)
				if r.Status != 401 || !sameCodes(r.Codes(), tc.want...) {
					t.Fatalf("got %d %v, want 401 %v", r.Status, r.Codes(), tc.want)
				}
				checkEnvelopeBytes(t, r.Body)
			})
		}
	}
	// A valid key passes authentication (and then meets the body rules).
	if r := s.do("PATCH", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key}, `{}`); r.Status != 400 {
		t.Fatalf("valid key: %d %v", r.Status, r.Codes())
	}
}

// TestRequest_NoEnumeration: the answer for an unknown address is the same
// as for a known one, in status, headers and body.
func TestRequest_NoEnumeration(t *testing.T) {
	s := startServer(t, "")
	s.addUser(alice, oldPW)
	key := s.apiKey("enum")
	send := func(email string) response {
		b, _ := json.Marshal(map[string]string{"emailAddress": email})
		return s.do("POST", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key, "X-Request-Id": "fixed-id"}, string(b))
	}
	known, unknown := send(alice), send("mallory-nobody@example.com")
	if known.Status != 202 || unknown.Status != 202 || len(known.Body) != 0 || len(unknown.Body) != 0 {
		t.Fatalf("known %d %q, unknown %d %q", known.Status, known.Body, unknown.Status, unknown.Body)
	}
	norm := func(h http.Header) http.Header {
		h = h.Clone()
		h.Del("Date")
		// The bucket resets an hour after its first request: equal to the
		// second, and compared below within that second.
		h.Del("X-Ratelimit-Reset")
		return h
	}
	if !reflect.DeepEqual(norm(known.Header), norm(unknown.Header)) {
		t.Fatalf("headers differ:\nknown   %v\nunknown %v", known.Header, unknown.Header)
	}
	var kr, ur int64
	fmt.Sscan(known.Header.Get("X-Ratelimit-Reset"), &kr)
	fmt.Sscan(unknown.Header.Get("X-Ratelimit-Reset"), &ur)
	if kr == 0 || ur-kr > 1 || kr-ur > 1 {
		t.Fatalf("X-RateLimit-Reset %d vs %d", kr, ur)
	}
	s.waitToken(alice, 1)
	if n := len(s.outboxTokens("mallory-nobody@example.com")); n != 0 {
		t.Fatalf("mail sent for an unknown address")
	}
}

func TestRequest_FieldRulesAndLimits(t *testing.T) {
	s := startServer(t, "")
	key := s.apiKey("post")
	for _, tc := range []struct {
		name, body string
		status     int
		want       []safereset.Code
	}{
		{"Missing", `{}`, 400, []safereset.Code{safereset.ER003}},
		{"Invalid", `{"emailAddress":"nope"}`, 400, []safereset.Code{safereset.ER001}},
		{"WrongCase", `{"EmailAddress":"alice@example.com"}`, 400, []safereset.Code{safereset.ER003}},
		{"Duplicate", `{"emailAddress":"a@example.com","emailAddress":"b@example.com"}`, 400, []safereset.Code{safereset.ER003}},
		{"TooLarge", `{"emailAddress":"a@example.com","pad":"` + strings.Repeat("x", 17<<10) + `"}`, 413, []safereset.Code{safereset.ER413}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key}, tc.body)
			if r.Status != tc.status || !sameCodes(r.Codes(), tc.want...) {
				t.Fatalf("got %d %v, want %d %v", r.Status, r.Codes(), tc.status, tc.want)
			}
			checkEnvelopeBytes(t, r.Body)
		})
	}
	// A body announced over the hard cap is refused from the headers
	// alone, before authentication, without reading it.
	c, err := net.Dial("tcp", strings.TrimPrefix(s.Base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST /api/v1/user/reset-password HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 2<<20)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	r := response{resp.StatusCode, resp.Header, body}
	if r.Status != 413 || !sameCodes(r.Codes(), safereset.ER413) || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("2 MiB body: %d %v %v", r.Status, r.Codes(), r.Header)
	}
	checkEnvelopeBytes(t, r.Body)

	// A compressed body is never inflated: 8 KiB of gzip that would
	// inflate to 8 MiB is just not JSON (every field missing), where an
	// inflating server answers ER413 after allocating the 8 MiB.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"emailAddress":"a@example.com","pad":"`))
	zw.Write(make([]byte, 8<<20))
	zw.Close()
	req, _ := http.NewRequest("POST", s.Base+"/api/v1/user/reset-password", bytes.NewReader(gz.Bytes()))
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if r := (response{resp.StatusCode, resp.Header, body}); r.Status != 400 || !sameCodes(r.Codes(), safereset.ER003) {
		t.Fatalf("gzip body (%d bytes): %d %v", gz.Len(), r.Status, r.Codes())
	}
}

// TestReset_Expiry uses a one-second token lifetime.
func TestReset_Expiry(t *testing.T) {
	s := startServer(t, "", "--token-ttl", "1s")
	s.addUser(alice, oldPW)
	key := s.apiKey("exp")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	time.Sleep(1100 * time.Millisecond) // past the token's lifetime; not a concurrency wait
	r := s.patch(key, alice, strongPW, strongPW, tok)
	if r.Status != 400 || !sameCodes(r.Codes(), safereset.ER353) {
		t.Fatalf("expired token: %d %v", r.Status, r.Codes())
	}
	// Expired for this user, but still "invalid" for anybody else.
	s.addUser(bob, oldPW)
	if r := s.patch(key, bob, strongPW, strongPW, tok); !sameCodes(r.Codes(), safereset.ER352) {
		t.Fatalf("expired token of another user: %v", r.Codes())
	}
}

// TestReset_ConcurrentSingleUse: 50 resets race with one token; exactly one
// wins. Run with -race.
func TestReset_ConcurrentSingleUse(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("race")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)

	const n = 50
	bodies := make([]map[string]string, n)
	for i := range bodies {
		pw := fmt.Sprintf("%s-%02d", strongPW, i)
		bodies[i] = map[string]string{"emailAddress": alice, "password": pw, "passwordVerify": pw, "token": tok}
	}
	statuses := concurrentPatches(t, s.Base, key, bodies)
	won := -1
	for i, st := range statuses {
		switch st {
		case 204:
			if won >= 0 {
				t.Fatalf("two resets succeeded with one token (%d and %d)", won, i)
			}
			won = i
		case 400:
		default:
			t.Errorf("request %d: status %d", i, st)
		}
	}
	if won < 0 {
		t.Fatal("no reset succeeded")
	}
	if !s.verify(alice, fmt.Sprintf("%s-%02d", strongPW, won)) {
		t.Fatal("the winner's password is not the stored one")
	}
}

// TestRestart_KeepsEverything: users, keys, passwords and tokens survive a
// restart on the same data dir.
func TestRestart_KeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.addUser(alice, oldPW)
	key := s.apiKey("restart")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	s.Stop()

	s2 := startServer(t, dir)
	if s2.Token != s.Token {
		t.Fatal("admin token changed across restart")
	}
	if r := s2.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("token or key lost across restart: %d %v", r.Status, r.Codes())
	}
	s2.Stop()
	s3 := startServer(t, dir)
	if !s3.verify(alice, strongPW) {
		t.Fatal("new password lost across restart")
	}
}

// TestLogs_NoSecrets drives the whole flow and scans every log line for
// the token, key, passwords and address.
func TestLogs_NoSecrets(t *testing.T) {
	s := startServer(t, "")
	s.addUser(alice, oldPW)
	key := s.apiKey("logs")
	s.post(key, alice)
	s.post(key, "unknown-person@example.com")
	tok := s.waitToken(alice, 1)
	s.patch(key, alice, "short", "short", tok)
	s.patch(key, alice, strongPW, strongPW, tok)
	s.do("POST", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key + "x"}, `{}`)
	s.Stop()
	log := s.Log.String()
	if !strings.Contains(log, `"route":"reset"`) || !strings.Contains(log, `"client":"apikey:logs"`) {
		t.Fatalf("expected request lines missing from the log:\n%s", log)
	}
	for name, secret := range map[string]string{
		"token": tok, "api key": key, "api key body": key[3:], "old password": oldPW, "new password": strongPW,
		"address": alice, "unknown address": "unknown-person@example.com", "admin token": s.Token,
	} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains the %s", name)
		}
	}
}

// TestServe_DataDirLocked: a second server on the same data dir stops with
// one clear line instead of waiting forever on the file lock.
func TestServe_DataDirLocked(t *testing.T) {
	s := startServer(t, "")
	_, errs, code := cli(t, nil, "", "serve", "--data-dir", s.DataDir, "--addr", freePort(t), "--admin-addr", freePort(t))
	if code == 0 || !strings.Contains(errs, "locked by another process") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("second server: %d %q", code, errs)
	}
}

// TestRequest_TimingFloor: token requests for known and unknown addresses
// both take the configured floor, so their medians agree; without the
// floor a known address answered about twice as slowly (a store write
// with a token and a mail, ~1.3 ms vs ~0.65 ms on loopback).
func TestRequest_TimingFloor(t *testing.T) {
	const floor = 30 * time.Millisecond
	s := startServer(t, "", "--request-min-duration", floor.String(), "--rate-request-email", "0", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("timing")
	var known, unknown []time.Duration
	for i := 0; i < 25; i++ {
		for _, addr := range []string{alice, "nobody@example.com"} {
			t0 := time.Now()
			if r := s.post(key, addr); r.Status != 202 {
				t.Fatalf("POST: %d", r.Status)
			}
			if addr == alice {
				known = append(known, time.Since(t0))
			} else {
				unknown = append(unknown, time.Since(t0))
			}
		}
	}
	mk, mu := median(known), median(unknown)
	t.Logf("median known %v, unknown %v", mk, mu)
	if mk < floor || mu < floor {
		t.Fatalf("answered before the floor: known %v, unknown %v", mk, mu)
	}
	if d := mk - mu; d > floor/4 || d < -floor/4 {
		t.Fatalf("medians differ by %v", d)
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// TestServe_ConnectionsPerIP: connections beyond --max-conns-per-ip from
// one address are turned away instead of each pinning buffers.
func TestServe_ConnectionsPerIP(t *testing.T) {
	s := startServer(t, "", "--max-conns-per-ip", "4")
	addr := strings.TrimPrefix(s.Base, "http://")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("POST /api/v1/user/reset-password HTTP/1.1\r\nHost: x\r\n")) // headers never finished
		held = append(held, c)
	}
	// The server counts a connection once it accepts it; the fifth is
	// refused as soon as it is accepted, so read its answer.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("GET /api/v1/doc.json HTTP/1.1\r\nHost: x\r\n\r\n"))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 429") {
		t.Fatalf("fifth connection answered %q", buf[:n])
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	waitFor(t, func() bool {
		resp, err := http.Get(s.Base + "/api/v1/doc.json")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "a free slot after the held connections closed")
}
