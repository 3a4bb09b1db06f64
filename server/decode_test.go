package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestDecodeObject(t *testing.T) {
	names := []string{"emailAddress", "password"}
	for _, tc := range []struct {
		name   string
		body   string
		wantOK bool
		want   map[string]field
	}{
		{"Plain", `{"emailAddress":"a@b.co","password":"x"}`, true, map[string]field{
			"emailAddress": {true, "a@b.co"}, "password": {true, "x"}}},
		{"UnknownIgnored", `{"emailAddress":"a@b.co","extra":{"deep":[1,2,3]}}`, true, map[string]field{
			"emailAddress": {true, "a@b.co"}}},
		{"ExactKeyCase", `{"EmailAddress":"a@b.co","EMAILADDRESS":"x"}`, true, map[string]field{}},
		{"WrongType", `{"emailAddress":42,"password":null}`, true, map[string]field{
			"emailAddress": {}, "password": {}}},
		{"EscapedKeyIsSameKey", `{"emailAddres\u0073":"a@b.co"}`, true, map[string]field{
			"emailAddress": {true, "a@b.co"}}},
		{"DuplicateKey", `{"emailAddress":"a@b.co","emailAddress":"c@d.co"}`, false, nil},
		{"DuplicateUnknownKey", `{"x":1,"x":2}`, false, nil},
		{"Array", `[{"emailAddress":"a@b.co"}]`, false, nil},
		{"String", `"a@b.co"`, false, nil},
		{"Null", `null`, false, nil},
		{"Empty", ``, false, nil},
		{"Trailing", `{"emailAddress":"a@b.co"} {}`, false, nil},
		{"TrailingGarbage", `{"emailAddress":"a@b.co"}x`, false, nil},
		{"Truncated", `{"emailAddress":"a@b.co"`, false, nil},
		{"BadEscape", `{"emailAddress":"\x"}`, false, nil},
		{"SixteenDistinctThenRepeatOfFirst", manyKeys(16, 0), false, nil},
		{"SeventeenDistinctThenRepeatOfLast", manyKeys(17, 16), false, nil},
		{"RepeatWithinTheFirstSixteen", manyKeys(8, 3), false, nil},
		{"FortyDistinct", manyKeys(40, -1), true, map[string]field{}},
		{"TrailingSpaceOK", "{\"password\":\"p\"}\n ", true, map[string]field{"password": {true, "p"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeObject([]byte(tc.body), names...)
			if !tc.wantOK {
				if len(got) != 0 {
					t.Fatalf("failed decode returned fields %v; want every field missing", got)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if got[k] != w {
					t.Errorf("%s = %+v, want %+v", k, got[k], w)
				}
			}
		})
	}
}

// manyKeys is an object of n distinct members k0…k(n-1), then a repeat of
// member dup (none when dup < 0).
func manyKeys(n, dup int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	if dup >= 0 {
		fmt.Fprintf(&b, `"k%d":0,`, dup)
	}
	return strings.TrimSuffix(b.String(), ",") + "}"
}

// A request's few keys are checked for repeats without allocating: the
// check runs on every rejection.
func TestSeenKeys_NoAllocationForSixteenKeys(t *testing.T) {
	keys := make([][]byte, 16)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key%d", i))
	}
	allocs := testing.AllocsPerRun(100, func() {
		var s seenKeys
		for _, k := range keys {
			if s.seen(k) {
				t.Fatal("a distinct key was seen")
			}
		}
		if !s.seen(keys[5]) {
			t.Fatal("a repeated key was not seen")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations for 16 keys, want 0", allocs)
	}
}

// FuzzDecodeObject: any body decodes without panicking, and a failed decode
// never yields fields.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"emailAddress":"a@b.co"}`, `{"a":1,"a":2}`, `[`, `{"token":"` + strings.Repeat("f", 32) + `"}`, "\xff\xfe", `{"x":[[[[[]]]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := decodeObject(body, "emailAddress", "password", "passwordVerify", "token")
		if !json.Valid(body) && len(got) != 0 {
			t.Fatalf("a body that is not JSON returned fields %v", got)
		}
		for _, fl := range got {
			if !fl.isStr && fl.str != "" {
				t.Fatalf("non-string member returned text %q", fl.str)
			}
		}
	})
}
