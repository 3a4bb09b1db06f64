package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
)

// decodeObjectReference is the strict decode written plainly on
// json.Decoder tokens: decodeObject must give exactly its answer for every
// body.
func decodeObjectReference(body []byte, names ...string) map[string]field {
	fields := make(map[string]field, len(names))
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fields
	}
	seen := make(map[string]struct{})
	got := make(map[string]field, len(names))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fields
		}
		key, isKey := tok.(string)
		if !isKey {
			return fields
		}
		if _, dup := seen[key]; dup {
			return fields
		}
		seen[key] = struct{}{}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fields
		}
		if _, ok := wanted([]byte(key), names); !ok {
			continue
		}
		var f field
		if len(raw) > 0 && raw[0] == '"' {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return fields
			}
			f.isStr, f.str = true, s
		}
		got[key] = f
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return fields
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fields
	}
	return got
}

var refNames = []string{"emailAddress", "password", "passwordVerify", "token"}

// refBodies are the bodies where a hand-written walk could part from
// encoding/json: escapes, bad UTF-8, surrogates, nesting, many keys,
// numbers and literals next to delimiters, white space everywhere.
func refBodies() []string {
	many := make([]string, 0, 200)
	for i := range 200 {
		many = append(many, `"k`+strings.Repeat("x", i)+`":`+`0`)
	}
	return []string{
		`{"emailAddress":"a@b.co","password":"x","passwordVerify":"x","token":"` + strings.Repeat("f", 32) + `"}`,
		` { "emailAddress" : "a@b.co" , "password" : 1 } `,
		"\t\r\n{\"token\"\t:\r\"t\"\n}\n",
		`{}`, `{ }`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":1 "b":2}`,
		`{"emailAddress":"a","emailAddress":"a"}`,
		`{"emailAddress":"a","emailAddres\u0073":"b"}`,
		`{"\u0065mailAddress":"\u0041\n\t\"\\\/\b\f\r"}`,
		`{"password":"\ud83d\ude00","token":"\ud800","emailAddress":"\udc00x"}`,
		"{\"password\":\"\xff\xfe\",\"token\":\"ok\"}",
		"{\"\xff\":1,\"\xfe\":2}",    // both keys read as U+FFFD: a repeat
		"{\"\xff\":1,\"\\ufffd\":2}", // the same, one escaped
		"{\"emailAddress\":\"caf\xc3\xa9\"}",
		"{\"password\":\"a\x00b\"}",
		`{"password":null,"token":true,"emailAddress":false,"passwordVerify":-1.5e+10}`,
		`{"x":{"emailAddress":"inner"},"emailAddress":"outer"}`,
		`{"x":[{"a":"}"},"]",[[]],{}],"password":"p"}`,
		`{"x":"\"}","password":"p"}`,
		`{"x":1}x`, `{"x":1}{}`, `{"x":1} 1`, `[]`, `"s"`, `1`, `null`, ``, ` `,
		`{"x":01}`, `{"x":1.}`, `{"x":tru}`, `{"x":"\q"}`, `{"x":"\u12"}`, "{\"x\":\"\t\"}",
		`{"password":"p","password":"p"}`,
		`{` + strings.Join(many, ",") + `}`,
		`{` + strings.Join(many, ",") + `,"k":1,"k":2}`,
		`{` + strings.Join(many, ",") + `,"kxxx":1}`,
		`{"EmailAddress":"a","EMAILADDRESS":"b"}`,
		"\ufeff{\"password\":\"p\"}",
	}
}

func TestDecodeObject_MatchesReference(t *testing.T) {
	for _, body := range refBodies() {
		got, want := decodeObject([]byte(body), refNames...), decodeObjectReference([]byte(body), refNames...)
		if !maps.Equal(got, want) {
			t.Errorf("body %.120q:\n got %v\nwant %v", body, got, want)
		}
	}
}

// FuzzDecodeObject_MatchesReference: for any body the fast decode and the
// token-by-token one agree on every field.
func FuzzDecodeObject_MatchesReference(f *testing.F) {
	for _, s := range refBodies() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, want := decodeObject(body, refNames...), decodeObjectReference(body, refNames...)
		if !maps.Equal(got, want) {
			t.Fatalf("body %q:\n got %v\nwant %v", body, got, want)
		}
	})
}

// FuzzUnquote_MatchesEncodingJSON: unquote gives, for every string
// json.Valid accepts, exactly the text json.Unmarshal gives (escapes,
// surrogate pairs, lone surrogates and invalid UTF-8 as U+FFFD).
func FuzzUnquote_MatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`plain`, `a\"b`, `\\\/\b\f\n\r\t`, `\u0026\u003c`, `\ud83d\ude00`, `\ud83d`, `\ud83dx`,
		`\ude00\ud83d`, `\ud83d\u0041`, "\xff\xfe", "caf\xc3\xa9", `\u00e9\u00E9`, "\xed\xa0\x80", `\u0000`, "x\xc3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, inner []byte) {
		quoted := append(append([]byte{'"'}, inner...), '"')
		if !json.Valid(quoted) {
			return
		}
		var want string
		if err := json.Unmarshal(quoted, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q) after json.Valid: %v", quoted, err)
		}
		got, ok := unquote(quoted, bytes.IndexByte(inner, '\\') >= 0)
		if !ok || string(got) != want {
			t.Fatalf("unquote(%q) = %q, %v; json.Unmarshal gives %q", quoted, got, ok, want)
		}
	})
}
