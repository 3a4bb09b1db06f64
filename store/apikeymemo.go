package store

import (
	"bytes"
	"sync"

	"github.com/safereset/safereset"
)

// apiKeyMemoCap bounds the memo. Deployments hold a handful of keys; the cap
// only stops a database with very many keys from growing the memo without
// end.
const apiKeyMemoCap = 256

// apiKeyMemo remembers, per key id, the record bytes last decoded and the key
// they decoded to, so the lookup every authenticated request makes decodes
// JSON only when the record changed. A hit needs the stored bytes, read in
// the same transaction, to equal the remembered ones: a revoke, a rotation or
// a delete changes or removes those bytes, so the memo is exact with no
// invalidation path. It keeps nothing the record does not hold (the key's
// hash, never the key).
type apiKeyMemo struct {
	mu sync.RWMutex
	m  map[string]apiKeyMemoEntry
}

type apiKeyMemoEntry struct {
	raw []byte
	key safereset.APIKey
}

// get returns the key decoded from raw when raw is what was remembered for
// id.
func (mm *apiKeyMemo) get(id, raw []byte) (safereset.APIKey, bool) {
	mm.mu.RLock()
	e, ok := mm.m[string(id)]
	mm.mu.RUnlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return safereset.APIKey{}, false
	}
	return e.key, true
}

// put remembers that raw, the record of id, decodes to k. raw and id belong
// to a bbolt transaction, so both are copied.
func (mm *apiKeyMemo) put(id, raw []byte, k safereset.APIKey) {
	e := apiKeyMemoEntry{raw: bytes.Clone(raw), key: k}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.m == nil {
		mm.m = make(map[string]apiKeyMemoEntry)
	}
	if _, ok := mm.m[string(id)]; !ok && len(mm.m) >= apiKeyMemoCap {
		for old := range mm.m { // any one: a miss only costs a decode
			delete(mm.m, old)
			break
		}
	}
	mm.m[string(id)] = e
}

// len is the number of remembered keys, for tests.
func (mm *apiKeyMemo) len() int {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	return len(mm.m)
}
