package server

import (
	"bytes"
	"encoding/json"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxBodyBytes is the largest request body the reset routes read (ER413 above).
const MaxBodyBytes = 16 << 10

// field is one member of a decoded body; str is "" unless it is a string.
type field struct {
	isStr bool
	str   string
}

// decodeObject decodes body strictly: it must be exactly one JSON object
// with no repeated key. Keys match exactly (no case folding, unlike
// encoding/json's struct decoding) after unescaping, as encoding/json
// unescapes them. Anything else decodes as every field missing. Unknown
// members are ignored.
//
// It runs on every rejection, so it does not build tokens: json.Valid
// checks the syntax without allocating, and the walk below then relies on
// it. Strings with an escape or invalid UTF-8 are unquoted by
// encoding/json so their text is exactly what it gives.
func decodeObject(body []byte, names ...string) map[string]field {
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' || !json.Valid(body) {
		return map[string]field{}
	}
	got := make(map[string]field, len(names))
	var keys seenKeys
	i = skipSpace(body, i+1)
	if body[i] == '}' {
		return got
	}
	for {
		end, esc := stringEnd(body, i)
		key, ok := unquote(body[i:end], esc)
		if !ok || keys.seen(key) {
			return map[string]field{}
		}
		i = skipSpace(body, skipSpace(body, end)+1) // past the ':'
		start := i
		i = valueEnd(body, i)
		if name, ok := wanted(key, names); ok {
			var f field
			if body[start] == '"' {
				s, ok := unquote(body[start:i], bytes.IndexByte(body[start:i], '\\') >= 0)
				if !ok {
					return map[string]field{}
				}
				f.isStr, f.str = true, string(s)
			}
			got[name] = f
		}
		i = skipSpace(body, i)
		if body[i] == '}' {
			return got
		}
		i = skipSpace(body, i+1) // past the ','
	}
}

// seenKeys finds repeated keys: a short list for the usual few members,
// kept in the struct itself so a request's body allocates none, and a
// map once a body has many, so a 16 KiB body of tiny members stays
// linear.
type seenKeys struct {
	small [16][]byte
	n     int
	set   map[string]struct{}
}

func (s *seenKeys) seen(key []byte) bool {
	if s.set != nil {
		if _, dup := s.set[string(key)]; dup {
			return true
		}
		s.set[string(key)] = struct{}{}
		return false
	}
	for _, k := range s.small[:s.n] {
		if bytes.Equal(k, key) {
			return true
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = key
		s.n++
		return false
	}
	s.set = make(map[string]struct{}, 2*len(s.small)+2)
	for _, k := range s.small {
		s.set[string(k)] = struct{}{}
	}
	s.set[string(key)] = struct{}{}
	return false
}

// unquote returns the text of the JSON string quoted (quotes included),
// which json.Valid has accepted. A plain one is its own bytes; one with an
// escape or invalid UTF-8 is unescaped as encoding/json unescapes it, bad
// bytes and lone surrogates becoming U+FFFD (FuzzUnquote_MatchesEncodingJSON).
func unquote(quoted []byte, esc bool) ([]byte, bool) {
	inner := quoted[1 : len(quoted)-1]
	if !esc && utf8.Valid(inner) {
		return inner, true
	}
	return unescape(inner)
}

// unescape is encoding/json's unquoting of a string's inside, without
// the reflection and the string copy of json.Unmarshal.
func unescape(s []byte) ([]byte, bool) {
	b := make([]byte, 0, len(s)+utf8.UTFMax)
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			if r+1 >= len(s) {
				return nil, false
			}
			switch s[r+1] {
			case '"', '\\', '/':
				b = append(b, s[r+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r:])
				if rr < 0 {
					return nil, false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, hex4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return nil, false
			}
			r += 2
		case c == '"' || c < ' ':
			return nil, false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return b, true
}

// hex4 reads the \uXXXX escape at the start of s, or returns -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] (a
// '"') and whether it holds an escape. b is valid JSON.
func stringEnd(b []byte, i int) (int, bool) {
	esc := false
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			esc = true
			i++
		case '"':
			return i + 1, esc
		}
	}
	return i, esc
}

// valueEnd returns the index just past the value starting at b[i]. b is
// valid JSON.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i, _ = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // a number, true, false or null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return i
			}
			i++
		}
		return i
	}
}

// wanted returns the name key spells, when it is one of names: the map
// of decoded fields is keyed by that string, so storing it allocates no
// copy of the key.
func wanted(key []byte, names []string) (string, bool) {
	for _, n := range names {
		if string(key) == n {
			return n, true
		}
	}
	return "", false
}
