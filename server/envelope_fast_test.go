package server

import (
	"encoding/json"
	"testing"

	"github.com/safereset/safereset"
)

// TestEncodeEnvelope_SameBytes: the joined envelope is byte for byte what
// json.Marshal gives for every code alone, every pair, the codes a PATCH
// can answer at once, an unknown code and no code.
func TestEncodeEnvelope_SameBytes(t *testing.T) {
	var all []safereset.Code
	for _, e := range safereset.Catalog() {
		all = append(all, e.Code)
	}
	sets := []safereset.Codes{{}, {"ER000x": {}}, {"ER000x": {}, safereset.ER999: {}}, {"ER000x": {}, safereset.ER001: {}},
		{safereset.ER001: {}, safereset.ER122: {}, safereset.ER350: {}, safereset.ER352: {}}}
	for _, a := range all {
		sets = append(sets, safereset.Codes{a: {}})
		for _, b := range all {
			sets = append(sets, safereset.Codes{a: {}, b: {}})
		}
	}
	whole := safereset.Codes{}
	for _, a := range all {
		whole.Add(a)
	}
	sets = append(sets, whole)
	for _, cs := range sets {
		want, err := json.Marshal(newEnvelope(cs))
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeEnvelope(cs, cs.Sorted())
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("codes %v:\n got %s\nwant %s", cs.Sorted(), got, want)
		}
	}
}
