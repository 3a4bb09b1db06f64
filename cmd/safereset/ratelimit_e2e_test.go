package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

func postWith(s *testServer, key, email string, headers map[string]string) response {
	s.t.Helper()
	h := map[string]string{"X-Api-Key": key}
	for k, v := range headers {
		h[k] = v
	}
	b, _ := json.Marshal(map[string]string{"emailAddress": email})
	return s.do("POST", "/api/v1/user/reset-password", h, string(b))
}

func is429(t *testing.T, r response) {
	t.Helper()
	if r.Status != 429 || !sameCodes(r.Codes(), safereset.ER429) {
		t.Fatalf("want 429 ER429, got %d %v", r.Status, r.Codes())
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if r.Header.Get("X-Ratelimit-Remaining") != "0" || r.Header.Get("X-Ratelimit-Limit") == "" || r.Header.Get("X-Ratelimit-Reset") == "" {
		t.Fatalf("limit headers: %v", r.Header)
	}
	checkEnvelopeBytes(t, r.Body)
}

// TestRateLimit_PerEmail: the 4th POST for one address within the window is
// 429, for known and unknown addresses alike; variants share the bucket;
// other addresses are unaffected; the 429s look the same.
func TestRateLimit_PerEmail(t *testing.T) {
	s := startServer(t, "")
	s.addUser(alice, oldPW)
	key := s.apiKey("rl")
	for _, addr := range []string{alice, "ghost@example.com"} {
		variants := []string{addr, strings.ToUpper(addr), "  " + addr + " "}
		for i, v := range variants {
			r := postWith(s, key, v, nil)
			if r.Status != 202 {
				t.Fatalf("%s request %d: %d %v", addr, i+1, r.Status, r.Codes())
			}
			if got := r.Header.Get("X-Ratelimit-Remaining"); got != strconv.Itoa(2-i) {
				t.Fatalf("%s request %d: X-RateLimit-Remaining %q", addr, i+1, got)
			}
		}
		is429(t, postWith(s, key, addr, nil))
	}
	// A Kelvin-sign variant of an address shares its bucket too.
	s.addUser("kelvin@example.com", oldPW)
	for i := 0; i < 3; i++ {
		postWith(s, key, "kelvin@example.com", nil)
	}
	is429(t, postWith(s, key, "\u212aelvin@example.com", nil))
	// Another address is unaffected.
	if r := postWith(s, key, bob, nil); r.Status != 202 {
		t.Fatalf("other address: %d", r.Status)
	}
	// Known and unknown limited answers are the same but for the clock.
	a, b := postWith(s, key, alice, map[string]string{"X-Request-Id": "x"}), postWith(s, key, "ghost@example.com", map[string]string{"X-Request-Id": "x"})
	for _, h := range []string{"Content-Type", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Request-Id", "Content-Length"} {
		if a.Header.Get(h) != b.Header.Get(h) {
			t.Errorf("%s differs: %q vs %q", h, a.Header.Get(h), b.Header.Get(h))
		}
	}
	if string(a.Body) != string(b.Body) {
		t.Error("bodies differ")
	}
	// Only three token mails went out for alice: limited requests queue nothing.
	s.waitToken(alice, 3)
	if n := len(s.outboxTokens(alice)); n != 3 {
		t.Fatalf("alice got %d token mails, want 3", n)
	}
}

// TestRateLimit_PatchLeavesTokenUsable: guesses fill the per-address
// bucket and are refused; a limited PATCH consumes nothing; and the owner's
// live token still goes through, so guesses cannot lock the owner out.
func TestRateLimit_PatchLeavesTokenUsable(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "2-M")
	s.addUser(alice, oldPW)
	key := s.apiKey("rl")
	postWith(s, key, alice, nil)
	tok := s.waitToken(alice, 1)
	guess := strings.Repeat("0", 32)
	for i := 0; i < 2; i++ {
		if r := s.patch(key, alice, strongPW, strongPW, guess); r.Status != 400 {
			t.Fatalf("guess %d: %d", i, r.Status)
		}
	}
	is429(t, s.patch(key, alice, strongPW, strongPW, guess))
	// A limited request with the real token but a bad password is still a
	// request with the live token: it is answered on its merits (ER122),
	// and consumes nothing.
	if r := s.patch(key, alice, "short", "short", tok); r.Status != 400 || !sameCodes(r.Codes(), safereset.ER122) {
		t.Fatalf("live token, short password: %d %v", r.Status, r.Codes())
	}
	if !s.verify(alice, oldPW) {
		t.Fatal("a refused PATCH changed the password")
	}
	if r := s.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("owner locked out by guesses: %d %v", r.Status, r.Codes())
	}
	// Guesses stay limited.
	is429(t, s.patch(key, alice, strongPW, strongPW, guess))

	// A PATCH stopped by the per-IP limit consumes nothing either: after a
	// restart (the limiter lives in memory) its token works.
	s.Stop()
	s2 := startServer(t, s.DataDir, "--rate-ip", "1-H")
	postWith(s2, key, alice, nil)
	tok2 := s2.waitToken(alice, 2)
	s2.patch(key, alice, "short", "short", tok2)
	is429(t, s2.patch(key, alice, otherPW, otherPW, tok2))
	s2.Stop()
	s3 := startServer(t, s.DataDir)
	if r := s3.patch(key, alice, otherPW, otherPW, tok2); r.Status != 204 {
		t.Fatalf("token unusable after an IP-limited PATCH: %d %v", r.Status, r.Codes())
	}
}

// TestRateLimit_PerIP: rotating X-Forwarded-For from an untrusted peer does
// not reset its bucket; behind a trusted proxy, clients get their own.
func TestRateLimit_PerIP(t *testing.T) {
	t.Run("Untrusted", func(t *testing.T) {
		s := startServer(t, "", "--rate-ip", "3-M")
		key := s.apiKey("ip")
		for i := 0; i < 3; i++ {
			r := postWith(s, key, "u"+strconv.Itoa(i)+"@example.com", map[string]string{"X-Forwarded-For": "203.0.113." + strconv.Itoa(i)})
			if r.Status != 202 {
				t.Fatalf("request %d: %d", i, r.Status)
			}
		}
		r := postWith(s, key, "u9@example.com", map[string]string{"X-Forwarded-For": "198.51.100.77", "Forwarded": "for=198.51.100.78"})
		is429(t, r)
		// The IP limit comes before authentication: no key, still 429.
		is429(t, s.do("POST", "/api/v1/user/reset-password", nil, `{}`))
		// Each route has its own IP bucket.
		if r := s.do("PATCH", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key}, `{}`); r.Status != 400 {
			t.Fatalf("PATCH after POST bucket is full: %d", r.Status)
		}
	})
	t.Run("TrustedProxy", func(t *testing.T) {
		s := startServer(t, "", "--rate-ip", "2-M", "--trusted-proxies", "127.0.0.0/8,::1")
		key := s.apiKey("ip")
		for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
			for i := 0; i < 2; i++ {
				r := postWith(s, key, "p"+strconv.Itoa(i)+client+"@example.com", map[string]string{"X-Forwarded-For": client})
				if r.Status != 202 {
					t.Fatalf("client %s request %d: %d", client, i, r.Status)
				}
			}
			is429(t, postWith(s, key, "q@example.com", map[string]string{"X-Forwarded-For": client}))
		}
		// A client that prepends a fake hop is still counted by its real address.
		is429(t, postWith(s, key, "r@example.com", map[string]string{"X-Forwarded-For": "10.9.9.9, 203.0.113.1"}))
	})
}

// TestRateLimit_WindowResets with a one-second window.
func TestRateLimit_WindowResets(t *testing.T) {
	s := startServer(t, "", "--rate-request-email", "1-S")
	key := s.apiKey("w")
	var r response
	for attempt := 0; attempt < 3; attempt++ {
		if r = postWith(s, key, "w@example.com", nil); r.Status != 202 {
			t.Fatalf("first: %d", r.Status)
		}
		if r = postWith(s, key, "w@example.com", nil); r.Status == 429 {
			break
		}
		// The two requests straddled a window boundary; try again.
	}
	is429(t, r)
	reset, _ := strconv.ParseInt(r.Header.Get("X-Ratelimit-Reset"), 10, 64)
	// Wait until the reset time the server announced has passed.
	time.Sleep(time.Until(time.Unix(reset, 0)) + 50*time.Millisecond)
	if r := postWith(s, key, "w@example.com", nil); r.Status != 202 {
		t.Fatalf("after the window: %d %v", r.Status, r.Codes())
	}
}

// TestRateLimit_Disabled: 0 turns a limit off and its headers disappear.
func TestRateLimit_Disabled(t *testing.T) {
	s := startServer(t, "", "--rate-request-email", "0", "--rate-ip", "0")
	key := s.apiKey("off")
	for i := 0; i < 6; i++ {
		r := postWith(s, key, alice, nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("request %d: %d", i, r.Status)
		}
		if r.Header.Get("X-Ratelimit-Limit") != "" {
			t.Fatal("limit headers with limits off")
		}
	}
}
