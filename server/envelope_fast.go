package server

import (
	"encoding/json"
	"sync"

	"github.com/safereset/safereset"
)

// envelopeMembers holds, per catalog code, its member of the envelope's
// "errors" object as json.Marshal writes it ("ER001":{...}). The entries
// are constants, so every rejection joins bytes instead of encoding the
// same entries again.
var envelopeMembers = sync.OnceValue(func() map[safereset.Code][]byte {
	m := make(map[safereset.Code][]byte)
	for _, e := range safereset.Catalog() {
		k, err := json.Marshal(e.Code)
		if err != nil {
			panic(err) // a catalog code is a plain string
		}
		v, err := json.Marshal(e)
		if err != nil {
			panic(err)
		}
		m[e.Code] = append(append(k, ':'), v...)
	}
	return m
})

// encodeEnvelope returns json.Marshal(newEnvelope(codes)); sorted is
// codes.Sorted(), the order json.Marshal writes map keys in. A code
// missing from the catalog stands for ER999 and takes the general path.
func encodeEnvelope(codes safereset.Codes, sorted []safereset.Code) ([]byte, error) {
	members := envelopeMembers()
	n := len(`{"errors":{}}`)
	for _, c := range sorted {
		m, ok := members[c]
		if !ok {
			return json.Marshal(newEnvelope(codes))
		}
		n += len(m) + 1
	}
	body := make([]byte, 0, n)
	body = append(body, `{"errors":{`...)
	for i, c := range sorted {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, members[c]...)
	}
	return append(body, `}}`...), nil
}
