package server

import (
	"strings"
	"testing"

	"github.com/safereset/safereset"
)

// TestResetRequest_Validate: every rule broken is reported at once, and
// the token state counts only for a valid address.
func TestResetRequest_Validate(t *testing.T) {
	const (
		tok    = "0123456789abcdef0123456789abcdef"
		strong = "kDWPe4qf$&mgM26&8hX"
	)
	ok := &safereset.Verdict{}
	for _, tc := range []struct {
		name    string
		r       resetRequest
		tokErr  error
		verdict *safereset.Verdict
		want    []safereset.Code
	}{
		{"AllGood", resetRequest{"a@example.com", strong, strong, tok}, nil, ok, nil},
		{"Empty", resetRequest{}, safereset.ErrTokenInvalid, nil, []safereset.Code{safereset.ER003, safereset.ER004, safereset.ER351}},
		{"BadEmailShortMismatchBadToken", resetRequest{"nope", "short", "other", "xyz"}, safereset.ErrTokenInvalid, nil,
			[]safereset.Code{safereset.ER001, safereset.ER122, safereset.ER350, safereset.ER352}},
		{"TooLong", resetRequest{"a@example.com", strings.Repeat("a", 65), strings.Repeat("a", 65), tok}, nil, nil, []safereset.Code{safereset.ER123}},
		{"Breached", resetRequest{"a@example.com", "password1", "password1", tok}, nil, &safereset.Verdict{Breached: true}, []safereset.Code{safereset.ER349}},
		{"Weak", resetRequest{"a@example.com", "password1", "password1", tok}, nil, &safereset.Verdict{Weak: true}, []safereset.Code{safereset.ER349}},
		{"UnknownToken", resetRequest{"a@example.com", strong, strong, tok}, safereset.ErrTokenInvalid, ok, []safereset.Code{safereset.ER352}},
		{"ExpiredToken", resetRequest{"a@example.com", strong, strong, tok}, safereset.ErrTokenExpired, ok, []safereset.Code{safereset.ER353}},
		// The token of an invalid address was never looked up: only the
		// address is wrong.
		{"TokenOfBadEmail", resetRequest{"nope", strong, strong, tok}, safereset.ErrTokenInvalid, ok, []safereset.Code{safereset.ER001}},
		// NFKC: a full-width digit matches its ASCII form.
		{"VerifyNFKC", resetRequest{"a@example.com", strong + "1", strong + "\uff11", tok}, nil, ok, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.validate(tc.tokErr, tc.verdict).Sorted()
			if len(got) != len(tc.want) {
				t.Fatalf("codes %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("codes %v, want %v", got, tc.want)
				}
			}
		})
	}
}
