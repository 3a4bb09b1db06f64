package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
)

// envelopeCodes returns the sorted codes of a raw answer's error envelope,
// or nil when the body is not one.
func envelopeCodes(raw string) []string {
	return response{Body: []byte(bodyOf(raw))}.Codes()
}

// TestSecurity_RefusedRequestsGetEnvelope: requests the HTTP layer refuses
// before routing (a negative or absurd Content-Length, headers over the
// limit) and multipart bodies get the error envelope with codes, never a
// bare status: a body that cannot be read counts as every field missing.
func TestSecurity_RefusedRequestsGetEnvelope(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0")
	key := s.apiKey("edges")
	head := func(method string) string {
		return method + " " + resetPath + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	}
	// The head of a refused request is not trusted, so its route is
	// unknown: ER003 is what an empty body gets on every route. A multipart
	// body is read like any other, so PATCH lists every missing field.
	post, patch := []string{"ER003"}, []string{"ER003", "ER004", "ER351"}
	for _, tc := range []struct {
		name   string
		raw    string
		status int
		codes  []string
	}{
		{"NegativeContentLength", head("POST") + "Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}", 400, post},
		{"NegativeContentLengthPatch", head("PATCH") + "Content-Type: application/json\r\nContent-Length: -1\r\n\r\n{}", 400, post},
		{"AbsurdContentLength", head("POST") + "Content-Length: 99999999999999999999\r\n\r\n", 400, post},
		{"TwoContentLengths", head("POST") + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, post},
		{"HeaderOverLimit", head("PATCH") + "X-Api-Key: " + strings.Repeat("A", 20<<10) + "\r\nContent-Length: 2\r\n\r\n{}", 400, post},
		{"MultipartMalformed", head("PATCH") + "X-Api-Key: " + key + "\r\nContent-Type: multipart/form-data; boundary=zz\r\nContent-Length: 9\r\n\r\n--zz\r\ngar", 400, patch},
		{"MultipartNoBoundary", head("POST") + "X-Api-Key: " + key + "\r\nContent-Type: multipart/form-data\r\nContent-Length: 2\r\n\r\n{}", 400, post},
		{"MultipartWellFormed", head("POST") + "X-Api-Key: " + key + "\r\nContent-Type: multipart/form-data; boundary=zz\r\nContent-Length: 70\r\n\r\n" +
			"--zz\r\nContent-Disposition: form-data; name=\"emailAddress\"\r\n\r\na@b.co\r\n--zz--\r\n", 400, post},
		// Authentication still comes first for a multipart body.
		{"MultipartUnauthenticated", head("POST") + "Content-Type: multipart/form-data; boundary=zz\r\nContent-Length: 9\r\n\r\n--zz\r\ngar", 401, []string{"ER802", "ER806"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, raw := secRaw(t, s.Base, tc.raw)
			if st != tc.status || strings.Join(envelopeCodes(raw), ",") != strings.Join(tc.codes, ",") {
				t.Fatalf("got %d %v, want %d %v\n%s", st, envelopeCodes(raw), tc.status, tc.codes, raw)
			}
			if !strings.Contains(raw, "X-Request-Id: ") {
				t.Errorf("no request id:\n%s", raw)
			}
		})
	}
	checkNoER999(t, s)
}

// TestSecurity_NonHostnameDomains: an address whose domain is not LDH
// labels (braces, other punctuation, U-labels) is ER001 on both public
// routes and refused with code ER001 by every admin route that takes one.
func TestSecurity_NonHostnameDomains(t *testing.T) {
	s := startServer(t, "", "--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0")
	key := s.apiKey("edges")
	const tok = "0123456789abcdef0123456789abcdef"
	for _, addr := range []string{"jane@example.com{token}", "jane@{x}.example.com", "jane@exa_mple.com", "jane@ex!ample.com", "jane@example.123", "jane@bücher.example"} {
		if r := s.post(key, addr); r.Status != 400 || !sameCodes(r.Codes(), safereset.ER001) {
			t.Errorf("POST %q: %d %v", addr, r.Status, r.Codes())
		}
		if r := s.patch(key, addr, "Lantern-Oyster-73?vk", "Lantern-Oyster-73?vk", tok); r.Status != 400 || !sameCodes(r.Codes(), safereset.ER001) {
			t.Errorf("PATCH %q: %d %v", addr, r.Status, r.Codes())
		}
		for _, route := range []struct{ method, path string }{{"POST", "/admin/v1/users"}, {"POST", "/admin/v1/users/verify"}, {"POST", "/admin/v1/users/delete"}} {
			st, body := adminRaw(t, s, route.method, route.path, "Bearer "+s.Token, mustJSON(map[string]string{"emailAddress": addr, "password": oldPW}))
			var out struct{ Code string }
			json.Unmarshal([]byte(bodyOf(body)), &out)
			if st != http.StatusBadRequest || out.Code != "ER001" {
				t.Errorf("%s %s %q: %d %s", route.method, route.path, addr, st, body)
			}
		}
		st, body := adminRaw(t, s, "POST", "/admin/v1/users/import", "Bearer "+s.Token, mustJSON(map[string]string{"emailAddress": addr, "password": oldPW})+"\n")
		var res struct {
			Failed int
			Errors []struct{ Code string }
		}
		json.Unmarshal([]byte(bodyOf(body)), &res)
		if st != 200 || res.Failed != 1 || len(res.Errors) != 1 || res.Errors[0].Code != "ER001" {
			t.Errorf("import %q: %d %s", addr, st, body)
		}
	}
	// The punycode form of an internationalized domain is an address.
	if r := s.post(key, "jane@xn--bcher-kva.example"); r.Status != 202 {
		t.Errorf("punycode domain: %d %v", r.Status, r.Codes())
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// bodyOf is the body of a raw answer from secRaw.
func bodyOf(raw string) string {
	_, body, _ := strings.Cut(raw, "\r\n\r\n")
	return body
}

// TestSecurity_JWTTimesMustBeNumbers: a correctly signed JWT whose exp, nbf
// or iat is a numeric string (or any other non-number) is ER800, not
// accepted and not ER801.
func TestSecurity_JWTTimesMustBeNumbers(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--rate-ip", "0")
	now := time.Now()
	good := jwt.MapClaims{"sub": "shop", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if r := s.do("POST", resetPath, map[string]string{"Authorization": "Bearer " + signHS256(t, dir, good)}, `{"emailAddress":"a@b.co"}`); r.Status != 202 {
		t.Fatalf("good token: %d %v; the test proves nothing", r.Status, r.Codes())
	}
	for _, tc := range []struct {
		claim string
		value any
	}{
		{"exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10)},
		{"exp", strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)},
		{"nbf", strconv.FormatInt(now.Unix(), 10)},
		{"iat", strconv.FormatInt(now.Unix(), 10)},
		{"iat", true},
		{"exp", []int64{now.Add(time.Hour).Unix()}},
	} {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		c[tc.claim] = tc.value
		r := s.do("POST", resetPath, map[string]string{"Authorization": "Bearer " + signHS256(t, dir, c)}, `{"emailAddress":"a@b.co"}`)
		if r.Status != 401 || !sameCodes(r.Codes(), safereset.ER800) {
			t.Errorf("%s=%#v: %d %v, want 401 ER800", tc.claim, tc.value, r.Status, r.Codes())
		}
	}
}
