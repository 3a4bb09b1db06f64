package main

// Security tests: each one is an attack against the real server (in-process
// `serve`, or the built binary where the process itself is measured). A
// test that documents an open weakness is kept and skipped with a
// "FINDING:" message, so the suite stays green and the finding stays
// reproducible: delete the t.Skip line to run the exploit.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

const resetPath = "/api/v1/user/reset-password"

// secRaw sends raw bytes on a fresh connection to addr ("http://host:port")
// and returns the status line's code and the whole answer. The Go client
// refuses to send most of what an attacker would, so these tests speak
// HTTP themselves.
func secRaw(t *testing.T, base, raw string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sb strings.Builder
	resp.Header.Write(&sb)
	return resp.StatusCode, sb.String() + "\r\n" + string(b)
}

// secJSON marshals fields into a body.
func secJSON(fields map[string]any) string {
	b, _ := json.Marshal(fields)
	return string(b)
}

// secPatchBody is a PATCH body.
func secPatchBody(email, pw, token string) string {
	return secJSON(map[string]any{"emailAddress": email, "password": pw, "passwordVerify": pw, "token": token})
}

// timedDo sends one request with client and returns its wall time and status.
func timedDo(t *testing.T, client *http.Client, method, u string, headers map[string]string, body string) (time.Duration, int) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}

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
// unknown address. The numbers are reported; the only assertion is a
// generous bound that catches a gross leak (hashing or synchronous mail on
// one path only). The strict check is TestSecurity_PostTimingOracle.
func TestSecurity_PostEnumerationTiming(t *testing.T) {
	p := measurePostTiming(t, 200, 5*time.Millisecond)
	t.Logf("POST timing over 200 each, 5 ms apart: %v", p)
	km, um := quantile(p.known, .5), quantile(p.unknown, .5)
	if km > 4*um+20*time.Millisecond || um > 4*km+20*time.Millisecond {
		t.Errorf("gross timing difference: known %v vs unknown %v", km, um)
	}
}

// TestSecurity_PostTimingOracle is the strict form: a known address must
// not be measurably slower than an unknown one (medians within 15%).
func TestSecurity_PostTimingOracle(t *testing.T) {
	t.Skip("FINDING: POST for a known address answers measurably later than for an unknown one " +
		"(client medians ~1.3 ms vs ~0.65 ms on loopback, requests 5-15 ms apart): account enumeration by timing; see the report")
	p := measurePostTiming(t, 200, 5*time.Millisecond)
	t.Logf("%v", p)
	km, um := quantile(p.known, .5), quantile(p.unknown, .5)
	if km > um*115/100 {
		t.Fatalf("known median %v vs unknown %v: timing oracle", km, um)
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

// upperFirstLetter upper-cases the first hex letter of a token.
func upperFirstLetter(tok string) string {
	i := strings.IndexAny(tok, "abcdef")
	if i < 0 {
		return tok + "!"
	}
	return tok[:i] + strings.ToUpper(tok[i:i+1]) + tok[i+1:]
}

func (r response) hasCode(c safereset.Code) bool {
	for _, got := range r.Codes() {
		if got == string(c) {
			return true
		}
	}
	return false
}

// TestSecurity_TokenTricks: variants of a real token (case, white space,
// NUL, Unicode digits, prefixes, another user's address) are all ER352 and
// leave the token usable; afterwards the real token works exactly once.
func TestSecurity_TokenTricks(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	s.addUser(bob, oldPW)
	key := s.apiKey("tricks")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	fullwidth := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r - '0' + '０'
		}
		return r
	}, tok)
	for name, v := range map[string]string{
		"Upper":          strings.ToUpper(tok),
		"OneUpper":       upperFirstLetter(tok),
		"LeadingSpace":   " " + tok,
		"TrailingSpace":  tok + " ",
		"TrailingLF":     tok + "\n",
		"TrailingNUL":    tok + "\x00",
		"InnerNUL":       tok[:16] + "\x00" + tok[17:],
		"Prefix31":       tok[:31],
		"Doubled":        tok + tok,
		"FullwidthDigit": fullwidth,
		"ZeroWidth":      tok[:16] + "\u200b" + tok[16:],
		"URLEncoded":     url.QueryEscape(tok) + "%00",
	} {
		r := s.patch(key, alice, strongPW, strongPW, v)
		if r.Status != 400 || !sameCodes(r.Codes(), safereset.ER352) {
			t.Errorf("%s: %d %v", name, r.Status, r.Codes())
		}
	}
	// Alice's token with Bob's address: invalid, and Bob is untouched.
	if r := s.patch(key, bob, strongPW, strongPW, tok); !sameCodes(r.Codes(), safereset.ER352) {
		t.Fatalf("alice's token for bob: %d %v", r.Status, r.Codes())
	}
	if !s.verify(alice, oldPW) || !s.verify(bob, oldPW) {
		t.Fatal("a rejected variant changed a password")
	}
	if r := s.patch(key, "ALICE@example.com", strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("real token after the variants: %d %v", r.Status, r.Codes())
	}
	if r := s.patch(key, alice, otherPW, otherPW, tok); !sameCodes(r.Codes(), safereset.ER352) {
		t.Fatalf("second use: %d %v", r.Status, r.Codes())
	}
}

// TestSecurity_TwoTokensRace: two outstanding tokens of one user used at
// once: exactly one reset wins, the other token dies with it.
func TestSecurity_TwoTokensRace(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0", "--rate-ip", "0", "--rate-request-email", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("race2")
	s.post(key, alice)
	t1 := s.waitToken(alice, 1)
	s.post(key, alice)
	t2 := s.waitToken(alice, 2)
	if t1 == t2 {
		t.Fatal("same token twice")
	}
	const n = 20
	start := make(chan struct{})
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tok := []string{t1, t2}[i%2]
			pw := fmt.Sprintf("%s-%02d", strongPW, i)
			req, _ := http.NewRequest("PATCH", s.Base+resetPath, strings.NewReader(secPatchBody(alice, pw, tok)))
			req.Header.Set("X-Api-Key", key)
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}(i)
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, st := range statuses {
		switch st {
		case 204:
			wins++
			if !s.verify(alice, fmt.Sprintf("%s-%02d", strongPW, i)) {
				t.Fatal("winner's password not stored")
			}
		case 400:
		default:
			t.Errorf("request %d: %d", i, st)
		}
	}
	if wins != 1 {
		t.Fatalf("%d resets succeeded with two tokens of one user, want 1", wins)
	}
}

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
