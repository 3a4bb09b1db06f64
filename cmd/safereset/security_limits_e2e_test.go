package main

// Security tests: each one is an attack against the real server (in-process
// `serve`, or the built binary where the process itself is measured).
// They are split by theme into security_*_e2e_test.go; this file: rate
// limits and the client address they are keyed by.

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/safereset/safereset"
)

// spoofHeaders returns client-IP headers an attacker rotates, for attempt i.
func spoofHeaders(i int) map[string]string {
	ip := fmt.Sprintf("198.51.100.%d", i%250+1)
	return map[string]string{
		"X-Forwarded-For":     ip,
		"Forwarded":           "for=" + ip,
		"X-Real-Ip":           ip,
		"True-Client-Ip":      ip,
		"X-Client-Ip":         ip,
		"Cf-Connecting-Ip":    ip,
		"X-Cluster-Client-Ip": ip,
		"Fastly-Client-Ip":    ip,
	}
}

// TestSecurity_IPSpoofing: rotating every client-IP header there is does
// not escape the per-IP limit, neither with no trusted proxy nor behind a
// trusted one (where only X-Forwarded-For/Forwarded count, and a hop the
// proxy appended cannot be overridden by one the client put in front).
func TestSecurity_IPSpoofing(t *testing.T) {
	t.Run("NoTrustedProxy", func(t *testing.T) {
		s := startServer(t, "", "--rate-ip", "3-M")
		key := s.apiKey("spoof")
		for i := 0; i < 3; i++ {
			h := spoofHeaders(i)
			h["X-Api-Key"] = key
			if r := s.do("POST", resetPath, h, secJSON(map[string]any{"emailAddress": fmt.Sprintf("s%d@example.com", i)})); r.Status != 202 {
				t.Fatalf("request %d: %d", i, r.Status)
			}
		}
		for i := 3; i < 8; i++ {
			h := spoofHeaders(i)
			h["X-Api-Key"] = key
			if r := s.do("POST", resetPath, h, secJSON(map[string]any{"emailAddress": fmt.Sprintf("s%d@example.com", i)})); r.Status != 429 {
				t.Fatalf("spoofed request %d escaped the IP limit: %d", i, r.Status)
			}
		}
		// Several X-Forwarded-For headers at once, sent raw.
		raw := "POST " + resetPath + " HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + key + "\r\nX-Forwarded-For: 10.1.1.1\r\nX-Forwarded-For: 10.1.1.2\r\n" +
			"Forwarded: for=10.1.1.3\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
		if st, _ := secRaw(t, s.Base, raw); st != 429 {
			t.Fatalf("repeated X-Forwarded-For escaped the limit: %d", st)
		}
	})
	t.Run("TrustedProxy", func(t *testing.T) {
		s := startServer(t, "", "--rate-ip", "2-M", "--trusted-proxies", "127.0.0.0/8,::1")
		key := s.apiKey("spoof")
		// The proxy appends the real client (203.0.113.50) to what the
		// client sent; the client rotates the rest.
		for i := 0; i < 6; i++ {
			h := spoofHeaders(i)
			h["X-Api-Key"] = key
			h["X-Forwarded-For"] = fmt.Sprintf("198.51.100.%d, 127.0.0.1, 203.0.113.50", i+1)
			r := s.do("POST", resetPath, h, secJSON(map[string]any{"emailAddress": fmt.Sprintf("t%d@example.com", i)}))
			if want := map[bool]int{true: 202, false: 429}[i < 2]; r.Status != want {
				t.Fatalf("request %d: %d, want %d", i, r.Status, want)
			}
		}
	})
}

// TestSecurity_TokenBruteForceLimited: guessing tokens for one account is
// capped by the per-address PATCH limit (10 an hour), whatever spelling of
// the address or client-IP header the guesser uses. With 128-bit tokens and
// 3 outstanding, that is 2^-124.4 success per hour.
func TestSecurity_TokenBruteForceLimited(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("brute")
	variants := []string{alice, "ALICE@EXAMPLE.COM", " alice@example.com", "alice@example.com\u00a0", "\u2003Alice@Example.com",
		"alice@example.com\u3000", "aLiCe@example.COM", "alice@example.com\t", "alice@EXAMPLE.com", "Alice@example.com"}
	rng := rand.New(rand.NewSource(2))
	guess := func() string {
		b := make([]byte, 16)
		rng.Read(b)
		return fmt.Sprintf("%x", b)
	}
	for i, v := range variants {
		h := spoofHeaders(i)
		h["X-Api-Key"] = key
		r := s.do("PATCH", resetPath, h, secPatchBody(v, strongPW, guess()))
		if r.Status != 400 || !sameCodes(r.Codes(), safereset.ER352) {
			t.Fatalf("guess %d (%q): %d %v", i, v, r.Status, r.Codes())
		}
	}
	for i, v := range append(variants, "alice@example.com\u2028", "alice@example.com\u0085") {
		h := spoofHeaders(100 + i)
		h["X-Api-Key"] = key
		if r := s.do("PATCH", resetPath, h, secPatchBody(v, strongPW, guess())); r.Status != 429 {
			t.Fatalf("guess %d past the limit (%q): %d %v", 11+i, v, r.Status, r.Codes())
		}
	}
}

// TestSecurity_ResetLockoutByThirdParty: anybody who knows an address can
// spend its PATCH budget with garbage tokens; the owner holding a valid
// token must still be able to reset, so the token is checked before the
// bucket is charged. Guesses past the limit are still refused.
func TestSecurity_ResetLockoutByThirdParty(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("lockout")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	for i := 0; i < 10; i++ {
		s.patch(key, alice, "", "", strings.Repeat("0", 32))
	}
	if r := s.patch(key, alice, "", "", strings.Repeat("1", 32)); r.Status != 429 {
		t.Fatalf("guess past the limit: %d %v", r.Status, r.Codes())
	}
	if r := s.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("owner with a valid token after a third party spent the address's budget: %d %v", r.Status, r.Codes())
	}
	if r := s.patch(key, alice, otherPW, otherPW, tok); r.Status != 429 {
		t.Fatalf("the used token past the limit: %d %v", r.Status, r.Codes())
	}
}

// TestSecurity_ForwardedVersusXFF: behind a trusted proxy that reports the
// client in Forwarded (RFC 7239), a client-supplied X-Forwarded-For that
// the proxy passes through must not decide the client address.
func TestSecurity_ForwardedVersusXFF(t *testing.T) {
	// Fixed: --forwarded-header names the one header the proxy sets.
	s := startServer(t, "", "--rate-ip", "2-M", "--trusted-proxies", "127.0.0.0/8", "--forwarded-header", "forwarded")
	key := s.apiKey("fwd")
	for i := 0; i < 5; i++ {
		h := map[string]string{"X-Api-Key": key,
			"Forwarded":       "for=203.0.113.50",                // appended by the proxy: the real client
			"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i+1), // sent by the client, passed through
		}
		r := s.do("POST", resetPath, h, secJSON(map[string]any{"emailAddress": fmt.Sprintf("f%d@example.com", i)}))
		if i >= 2 && r.Status != 429 {
			t.Fatalf("request %d from 203.0.113.50 escaped its bucket via X-Forwarded-For: %d", i, r.Status)
		}
	}
}

// TestSecurity_UnicodeRateLimit: look-alike spellings share the real
// address's per-address bucket, so they cannot multiply the budget.
func TestSecurity_UnicodeRateLimit(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0")
	s.addUser("kelvin@example.com", oldPW)
	key := s.apiKey("urate")
	spellings := []string{"\u212aelvin@example.com", "ｋｅｌｖｉｎ@example.com", "KELVIN@EXAMPLE.COM",
		"kel\u200dvin@example.com", "kelvin@example.com\u00a0", "\u202ekelvin@example.com"}
	for i := 0; i < 3; i++ {
		if r := s.post(key, spellings[i]); r.Status != 202 {
			t.Fatalf("%q: %d", spellings[i], r.Status)
		}
	}
	for _, v := range append(spellings[3:], "kelvin@example.com") {
		r := s.post(key, v)
		// Spellings with invisible format characters (ZWJ, RTL override)
		// are not addresses at all: refused with ER001 before any bucket,
		// token or mail.
		if r.Status == 400 && sameCodes(r.Codes(), safereset.ER001) && strings.ContainsAny(v, "\u200d\u202e") {
			continue
		}
		if r.Status != 429 {
			t.Errorf("%q escaped the shared bucket: %d %v", v, r.Status, r.Codes())
		}
	}
}

// TestSecurity_IPRepresentations: behind a trusted proxy, spellings of one
// client address (IPv4-mapped IPv6, ports, brackets, other host bits of
// the same IPv6 /64) share one bucket.
func TestSecurity_IPRepresentations(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "2-M", "--trusted-proxies", "127.0.0.0/8")
	key := s.apiKey("reps")
	for name, spellings := range map[string][]string{
		"IPv4":  {"203.0.113.5", "::ffff:203.0.113.5", "203.0.113.5:4711", "[::ffff:203.0.113.5]:80", "::ffff:cb00:7105"},
		"IPv6":  {"2001:db8:1:2::1", "2001:DB8:1:2::2", "[2001:db8:1:2:ffff:ffff:ffff:ffff]", "[2001:db8:1:2::9]:443", "2001:0db8:0001:0002:0000:0000:0000:0007"},
		"Fwded": {"for=203.0.113.77", `for="203.0.113.77:1"`, `for="[::ffff:203.0.113.77]"`, "for=203.0.113.77;proto=https", "FOR=203.0.113.77"},
	} {
		for i, sp := range spellings {
			h := map[string]string{"X-Api-Key": key}
			if name == "Fwded" {
				h["Forwarded"] = sp
			} else {
				h["X-Forwarded-For"] = sp
			}
			r := s.do("POST", resetPath, h, secJSON(map[string]any{"emailAddress": fmt.Sprintf("%s%d@example.com", name, i)}))
			if want := map[bool]int{true: 202, false: 429}[i < 2]; r.Status != want {
				t.Errorf("%s spelling %q (request %d): %d, want %d", name, sp, i+1, r.Status, want)
			}
		}
	}
}
