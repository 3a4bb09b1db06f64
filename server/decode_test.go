package server

import (
	"encoding/json"
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
