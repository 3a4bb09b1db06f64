package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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
// encoding/json's struct decoding). Anything else decodes as every field
// missing. Unknown members are ignored.
func decodeObject(body []byte, names ...string) map[string]field {
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
		if !wanted(key, names) {
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
	// Exactly one value: trailing data ("{} {}" or "{}x") is not an object.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fields
	}
	return got
}

func wanted(key string, names []string) bool {
	for _, n := range names {
		if key == n {
			return true
		}
	}
	return false
}
