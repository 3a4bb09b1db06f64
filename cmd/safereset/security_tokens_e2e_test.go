package main

// Security tests: each one is an attack against the real server (in-process
// `serve`, or the built binary where the process itself is measured).
// They are split by theme into security_*_e2e_test.go; this file: reset
// tokens, the mails that carry them and the passwords they set.

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/safereset/safereset"
)

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
	bodies := make([]map[string]string, n)
	for i := range bodies {
		pw := fmt.Sprintf("%s-%02d", strongPW, i)
		bodies[i] = map[string]string{"emailAddress": alice, "password": pw, "passwordVerify": pw, "token": []string{t1, t2}[i%2]}
	}
	statuses := concurrentPatches(t, s.Base, key, bodies)
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

// TestSecurity_MailHeaderAndLinkInjection: CR/LF in an address never
// reaches a mail (refused as ER001 on both routes and by the admin API);
// an address full of URL and HTML metacharacters yields a link whose
// token and email parameters are exactly the real ones.
func TestSecurity_MailHeaderAndLinkInjection(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("inject")
	for _, v := range []string{
		"alice@example.com\r\nBcc: evil@attacker.example",
		"alice@example.com\nBcc: evil@attacker.example",
		"alice@example.com\rBcc: evil@attacker.example",
		"evil@attacker.example,alice@example.com",
		"alice@example.com, evil@attacker.example",
		"Alice <evil@attacker.example>",
		"evil@attacker.example (alice@example.com)",
		`"alice@example.com"@attacker.example`,
		"alice@example.com%0d%0aBcc:evil@attacker.example",
		"alice@[127.0.0.1]",
		"alice@example.com\u2028Bcc: evil@attacker.example",
	} {
		r := s.post(key, v)
		if r.Status == 202 {
			continue // accepted as some other (unknown) account: checked below that nothing was mailed
		}
		if r.Status != 400 || !sameCodes(r.Codes(), safereset.ER001) {
			t.Errorf("POST %q: %d %v", v, r.Status, r.Codes())
		}
		if st := s.admin("POST", "/admin/v1/users", map[string]string{"emailAddress": v, "password": oldPW}, nil); st != 400 {
			t.Errorf("admin created user %q: %d", v, st)
		}
	}
	weird := "o'brien&token=00000000000000000000000000000000#x=%41+{1}|~`?@example.com"
	if st := s.admin("POST", "/admin/v1/users", map[string]string{"emailAddress": weird, "password": oldPW}, nil); st != 201 {
		t.Fatalf("valid address with metacharacters refused: %d", st)
	}
	s.post(key, weird)
	s.post(key, alice)
	s.waitToken(alice, 1)
	var mail string
	waitFor(t, func() bool {
		for _, m := range outboxMails(t, s) {
			if strings.Contains(m, "o'brien") {
				mail = m
				return true
			}
		}
		return false
	}, "the mail to the metacharacter address")
	for _, m := range outboxMails(t, s) {
		if strings.Contains(strings.ToLower(m), "attacker.example") || strings.Contains(m, "\nBcc:") {
			t.Fatalf("injected recipient in a mail:\n%s", m)
		}
	}
	links := regexp.MustCompile(`https?://[^\s"<>]+`).FindAllString(mail, -1)
	if len(links) == 0 {
		t.Fatalf("no link in:\n%s", mail)
	}
	// The reset links (text and HTML part) carry one token, the lock
	// links another.
	var real, lock string
	for _, l := range links {
		l = strings.ReplaceAll(l, "&amp;", "&")
		u, err := url.Parse(l)
		if err != nil {
			t.Fatalf("link %q: %v", l, err)
		}
		q := u.Query()
		if len(q["token"]) != 1 || len(q["email"]) != 1 || len(q) != 2 || u.Fragment != "" {
			t.Fatalf("link %q has query %v fragment %q: parameters injected", l, q, u.Fragment)
		}
		if q.Get("email") != weird {
			t.Fatalf("link email %q, want %q", q.Get("email"), weird)
		}
		tok := &real
		if u.Path == "/reset/not-me" {
			tok = &lock
		}
		if *tok == "" {
			*tok = q.Get("token")
		} else if q.Get("token") != *tok {
			t.Fatalf("links disagree on the token")
		}
	}
	if lock == "" || lock == real {
		t.Fatalf("lock link token %q beside reset token %q", lock, real)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(real) || real == strings.Repeat("0", 32) {
		t.Fatalf("link token %q", real)
	}
	if strings.Contains(mail, "&token=0000") && !strings.Contains(mail, "o'brien&token=0000") {
		t.Fatal("the address's &token= reached a link unescaped")
	}
	if r := s.patch(key, weird, strongPW, strongPW, real); r.Status != 204 {
		t.Fatalf("the link's token does not work: %d %v", r.Status, r.Codes())
	}
}

// TestSecurity_WeakPasswordDisguised: a weak password written in
// compatibility characters (fullwidth "ａａａａａａａａａａ") is stored in its NFKC
// form ("aaaaaaaaaa"), so it must be judged in that form too.
func TestSecurity_WeakPasswordDisguised(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("weak")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	fw := "ａａａａａａａａａａ"
	if r := s.patch(key, alice, "aaaaaaaaaa", "aaaaaaaaaa", tok); !sameCodes(r.Codes(), safereset.ER349) {
		t.Fatalf("ASCII form: %d %v", r.Status, r.Codes())
	}
	r := s.patch(key, alice, fw, fw, tok)
	if r.Status == 204 && s.verify(alice, "aaaaaaaaaa") {
		t.Fatal("fullwidth form accepted: the stored password is now \"aaaaaaaaaa\"")
	}
	if !sameCodes(r.Codes(), safereset.ER349) {
		t.Fatalf("fullwidth form: %d %v", r.Status, r.Codes())
	}
}

// TestSecurity_WeakNonLatinRepeats: one character repeated is weak in any
// script, as it is in ASCII ("aaaaaaaaaa" is ER349); zxcvbn alone rates
// such repeats strong.
func TestSecurity_WeakNonLatinRepeats(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0", "--rate-ip", "0")
	s.addUser(alice, oldPW)
	key := s.apiKey("weak")
	s.post(key, alice)
	tok := s.waitToken(alice, 1)
	for _, pw := range []string{"жжжжжжжжжж", "éééééééééé", "一一一一一一一一", "😀😀😀😀😀😀😀😀"} {
		if r := s.patch(key, alice, pw, pw, tok); !sameCodes(r.Codes(), safereset.ER349) {
			t.Fatalf("%q: %d %v, want ER349", pw, r.Status, r.Codes())
		}
	}
}

// TestSecurity_ResetLinkPoisoning: the link in the token mail comes from
// --reset-url only, never from Host, X-Forwarded-Host/-Proto, Forwarded
// or Origin (the classic reset-poisoning attack); method-override headers
// are ignored; no CORS grant lets a web page read the API.
func TestSecurity_ResetLinkPoisoning(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0", "--rate-request-email", "0", "--reset-url", "https://app.example/reset?t={token}")
	s.addUser(alice, oldPW)
	key := s.apiKey("poison")
	raw := "POST " + resetPath + " HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: http\r\n" +
		"X-Forwarded-Server: evil.example\r\nX-Host: evil.example\r\nX-Original-Url: https://evil.example/\r\nX-Rewrite-Url: https://evil.example/\r\n" +
		"Forwarded: host=evil.example;proto=http\r\nOrigin: https://evil.example\r\nReferer: https://evil.example/\r\n" +
		"X-Api-Key: " + key + "\r\nContent-Type: application/json\r\nConnection: close\r\n"
	body := `{"emailAddress":"alice@example.com"}`
	if st, _ := secRaw(t, s.Base, raw+"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); st != 202 {
		t.Fatalf("POST: %d", st)
	}
	var mail string
	waitFor(t, func() bool {
		for _, m := range outboxMails(t, s) {
			if strings.Contains(m, "app.example/reset") {
				mail = m
				return true
			}
		}
		return false
	}, "the token mail")
	if strings.Contains(mail, "evil.example") {
		t.Fatalf("attacker host in the mail:\n%s", mail)
	}
	if !regexp.MustCompile(`https://app\.example/reset\?t=[0-9a-f]{32}`).MatchString(mail) {
		t.Fatalf("link not built from --reset-url:\n%s", mail)
	}
	// A POST that claims to be a PATCH is still a POST.
	for _, h := range []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"} {
		r := s.do("POST", resetPath+"?_method=PATCH", map[string]string{"X-Api-Key": key, h: "PATCH"}, secPatchBody(alice, strongPW, strings.Repeat("a", 32)))
		if r.Status != 202 {
			t.Errorf("POST with %s: PATCH: %d %v", h, r.Status, r.Codes())
		}
	}
	// CORS: a preflight from a web page gets no grant.
	st, answer := secRaw(t, s.Base, "OPTIONS "+resetPath+" HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"+
		"Access-Control-Request-Method: PATCH\r\nAccess-Control-Request-Headers: x-api-key, content-type\r\nConnection: close\r\n\r\n")
	if strings.Contains(strings.ToLower(answer), "access-control-allow") {
		t.Errorf("CORS preflight answered %d with a grant:\n%s", st, answer)
	}
}
