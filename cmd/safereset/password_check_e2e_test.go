package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/safereset/safereset"
)

// The check route gives, for every password, exactly the password codes
// the PATCH route gives for it. The PATCH carries alice's live token (a
// guess gets only the cheap rules) and a passwordVerify that differs, so
// it changes nothing and also says ER350, which is dropped before
// comparing.
func TestPasswordCheck_SameRulesAsPatch(t *testing.T) {
	c := buildExactCorpus(t, "0.001", knownBreached, nil, 100)
	s := startServer(t, "", "--breach-filter", c.bloom, "--breach-exact", c.exact, "--rate-reset-email", "0", "--rate-ip", "0")
	key := s.apiKey("check")
	s.addUser(alice, "Original-Secret-77!q")
	if r := s.post(key, alice); r.Status != 202 {
		t.Fatalf("token request: %d", r.Status)
	}
	token := s.waitToken(alice, 1)
	check := func(body map[string]any) response {
		b, _ := json.Marshal(body)
		return s.do("POST", "/api/v1/password/check", map[string]string{"X-Api-Key": key}, string(b))
	}
	for _, tc := range []struct {
		name, pw string
		want     []safereset.Code
	}{
		{"Good", "Kestrel-Pumpkin-42!vw", nil},
		{"Breached", "correct horse battery staple", []safereset.Code{safereset.ER349}},
		{"Weak", "aaaaaaaaaa", []safereset.Code{safereset.ER349}},
		{"ContainsLocalPart", "alice-Kestrel-42!vw", []safereset.Code{safereset.ER349}},
		{"Short", "Ab1!", []safereset.Code{safereset.ER122}},
		{"Long", strings.Repeat("Kq9!", 17), []safereset.Code{safereset.ER123}},
		{"Empty", "", []safereset.Code{safereset.ER004}},
		{"FullwidthWeak", "ａａａａａａａａａ", []safereset.Code{safereset.ER349}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(map[string]any{"password": tc.pw, "emailAddress": alice})
			patch := s.patch(key, alice, tc.pw, tc.pw+"-differs", token).Codes()
			if !slices.Contains(patch, string(safereset.ER350)) {
				t.Fatalf("PATCH codes %v lack ER350: the test would have reset the password", patch)
			}
			patch = slices.DeleteFunc(patch, func(c string) bool { return c == string(safereset.ER350) })
			if !sameCodes(r.Codes(), tc.want...) || !sameCodes(patch, tc.want...) {
				t.Fatalf("check: %d %v, patch codes %v, want %v", r.Status, r.Codes(), patch, tc.want)
			}
			wantStatus := 400
			if len(tc.want) == 0 {
				wantStatus = 204
			}
			if r.Status != wantStatus {
				t.Fatalf("check status %d, want %d", r.Status, wantStatus)
			}
		})
	}
	t.Run("WithoutEmail", func(t *testing.T) {
		if r := check(map[string]any{"password": "alice-Kestrel-42!vw"}); r.Status != 204 {
			t.Fatalf("without emailAddress the local-part rule has nothing to match: %d %v", r.Status, r.Codes())
		}
	})
	t.Run("BadEmail", func(t *testing.T) {
		r := check(map[string]any{"password": "Kestrel-Pumpkin-42!vw", "emailAddress": "not-an-address"})
		if r.Status != 400 || !sameCodes(r.Codes(), safereset.ER001) {
			t.Fatalf("%d %v, want ER001", r.Status, r.Codes())
		}
		r = check(map[string]any{"password": 12345678})
		if !sameCodes(r.Codes(), safereset.ER004) {
			t.Fatalf("non-string password: %v, want ER004", r.Codes())
		}
	})
	t.Run("NeedsAuth", func(t *testing.T) {
		r := s.do("POST", "/api/v1/password/check", nil, `{"password":"Kestrel-Pumpkin-42!vw"}`)
		if r.Status != 401 {
			t.Fatalf("unauthenticated check: %d %v", r.Status, r.Codes())
		}
	})
}
