package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/safereset/safereset"
	bolt "go.etcd.io/bbolt"
)

// checkIndexes cross-checks every record against its index entries and
// back. Errors name IDs and bucket names only, never emails or hashes.
func checkIndexes(tx *bolt.Tx) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, name := range allBuckets() {
		if tx.Bucket([]byte(name)) == nil {
			bad("bucket %s missing", name)
			return errs
		}
	}
	users, byEmail := tx.Bucket([]byte(bucketUsers)), tx.Bucket([]byte(bucketUsersByEmail))
	tokens, userTokens := tx.Bucket([]byte(bucketTokens)), tx.Bucket([]byte(bucketUserTokens))
	keys, keyHashes := tx.Bucket([]byte(bucketAPIKeys)), tx.Bucket([]byte(bucketAPIKeyHashes))
	outbox, due := tx.Bucket([]byte(bucketOutbox)), tx.Bucket([]byte(bucketOutboxDue))

	_ = users.ForEach(func(k, v []byte) error {
		var u safereset.User
		if err := jsonUnmarshal(v, &u); err != nil || len(k) != 8 || u.ID != binary.BigEndian.Uint64(k) {
			bad("users: bad record under key %x", k)
			return nil
		}
		if !bytes.Equal(byEmail.Get([]byte(u.EmailKey)), k) {
			bad("users: user %d has no email index entry", u.ID)
		}
		return nil
	})
	_ = byEmail.ForEach(func(k, v []byte) error {
		var u safereset.User
		if ok, err := getJSON(users, v, &u); !ok || err != nil || u.EmailKey != string(k) {
			bad("users_by_email: entry for id %x points at no matching user", v)
		}
		return nil
	})
	_ = tokens.ForEach(func(k, _ []byte) error {
		if len(k) != 32 {
			bad("tokens: bad key length %d", len(k))
			return nil
		}
		t, _, err := getToken(tokens, [32]byte(k))
		if err != nil {
			bad("tokens: bad record")
			return nil
		}
		if users.Get(u64(t.UserID)) == nil {
			bad("tokens: token of missing user %d", t.UserID)
		}
		if userTokens.Get(userTokenKey(t.UserID, t.Hash)) == nil {
			bad("tokens: token of user %d has no index entry", t.UserID)
		}
		return nil
	})
	_ = userTokens.ForEach(func(k, _ []byte) error {
		if len(k) != 8+32 {
			bad("user_tokens: bad key length %d", len(k))
			return nil
		}
		uid := binary.BigEndian.Uint64(k[:8])
		if t, ok, err := getToken(tokens, [32]byte(k[8:])); !ok || err != nil || t.UserID != uid {
			bad("user_tokens: entry of user %d points at no matching token", uid)
		}
		return nil
	})
	_ = tx.Bucket([]byte(bucketLockTokens)).ForEach(func(k, v []byte) error {
		lt, err := decodeLockToken(k, v)
		if err != nil {
			bad("lock_tokens: bad record")
			return nil
		}
		if users.Get(u64(lt.UserID)) == nil {
			bad("lock_tokens: lock token of missing user %d", lt.UserID)
		}
		return nil
	})
	_ = keys.ForEach(func(k, v []byte) error {
		var r apiKeyRecord
		if err := jsonUnmarshal(v, &r); err != nil || r.ID != string(k) {
			bad("apikeys: bad record")
			return nil
		}
		if !bytes.Equal(keyHashes.Get(r.Hash[:]), k) {
			bad("apikeys: key %q has no hash index entry", r.ID)
		}
		return nil
	})
	_ = keyHashes.ForEach(func(k, v []byte) error {
		var r apiKeyRecord
		if ok, err := getJSON(keys, v, &r); !ok || err != nil || !bytes.Equal(r.Hash[:], k) {
			bad("apikeys_by_hash: entry for %q points at no matching key", v)
		}
		return nil
	})
	_ = outbox.ForEach(func(k, v []byte) error {
		r, err := decodeRecord(v)
		if err != nil || len(k) != 8 {
			bad("outbox: bad record under key %x", k)
			return nil
		}
		if id := binary.BigEndian.Uint64(k); due.Get(dueKey(r.NextAttempt, id)) == nil {
			bad("outbox: entry %d has no due index entry", id)
		}
		return nil
	})
	_ = due.ForEach(func(k, _ []byte) error {
		if len(k) != 12+8 {
			bad("outbox_due: bad key length %d", len(k))
			return nil
		}
		id := binary.BigEndian.Uint64(k[12:])
		raw := outbox.Get(k[12:])
		r, err := decodeRecord(raw)
		if raw == nil || err != nil || !bytes.Equal(dueKey(r.NextAttempt, id), k) {
			bad("outbox_due: entry for %d points at no matching entry", id)
		}
		return nil
	})
	return errs
}
