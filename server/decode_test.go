package server

import (
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
			"emailAddress": {true, true, "a@b.co"}, "password": {true, true, "x"}}},
		{"UnknownIgnored", `{"emailAddress":"a@b.co","extra":{"deep":[1,2,3]}}`, true, map[string]field{
			"emailAddress": {true, true, "a@b.co"}}},
		{"ExactKeyCase", `{"EmailAddress":"a@b.co","EMAILADDRESS":"x"}`, true, map[string]field{}},
		{"WrongType", `{"emailAddress":42,"password":null}`, true, map[string]field{
			"emailAddress": {present: true}, "password": {present: true}}},
		{"EscapedKeyIsSameKey", `{"emailAddres\u0073":"a@b.co"}`, true, map[string]field{
			"emailAddress": {true, true, "a@b.co"}}},
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
		{"TrailingSpaceOK", "{\"password\":\"p\"}\n ", true, map[string]field{"password": {true, true, "p"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := decodeObject([]byte(tc.body), names...)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
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

// FuzzDecodeObject: any body decodes without panicking, and a failed decode
// never yields fields.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"emailAddress":"a@b.co"}`, `{"a":1,"a":2}`, `[`, `{"token":"` + strings.Repeat("f", 32) + `"}`, "\xff\xfe", `{"x":[[[[[]]]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := decodeObject(body, "emailAddress", "password", "passwordVerify", "token")
		if !ok && len(got) != 0 {
			t.Fatalf("failed decode returned fields")
		}
		for _, fl := range got {
			if fl.isStr && !fl.present {
				t.Fatalf("string field not marked present")
			}
		}
	})
}
