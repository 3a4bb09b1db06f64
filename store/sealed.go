package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/seal"
	bolt "go.etcd.io/bbolt"
)

// outboxRecord is what the outbox bucket holds for one entry: the fields
// the worker schedules by, in clear, and the message (address, subject,
// bodies with the token) sealed under the outbox key with the entry ID as
// additional data. The message is sealed before it is handed to bbolt, so
// its plaintext is never written to any page, live or free.
type outboxRecord struct {
	Kind        safereset.MailKind `json:"kind"`
	CreatedAt   time.Time          `json:"createdAt"`
	NotAfter    time.Time          `json:"notAfter"`
	Attempts    int                `json:"attempts"`
	NextAttempt time.Time          `json:"nextAttempt"`
	LastError   string             `json:"lastError,omitempty"`
	Claim       uint64             `json:"claim,omitempty"`
	Sealed      []byte             `json:"sealed"`
}

// sealedPayload is what is sealed: the message's fields and, for an event
// delivery, the webhook (it holds the user's address).
type sealedPayload struct {
	safereset.Message
	Webhook *safereset.WebhookDelivery `json:"webhook,omitempty"`
}

// sealEntry returns the stored record of e under id.
func sealEntry(box *seal.Box, id uint64, e safereset.OutboxEntry) ([]byte, error) {
	plain, err := json.Marshal(sealedPayload{Message: e.Message, Webhook: e.Webhook})
	if err != nil {
		return nil, err
	}
	sealed := box.Seal(plain, u64(id))
	clear(plain)
	return json.Marshal(outboxRecord{
		Kind: e.Message.Kind, CreatedAt: e.CreatedAt, NotAfter: e.NotAfter,
		Attempts: e.Attempts, NextAttempt: e.NextAttempt, LastError: e.LastError, Claim: e.Claim, Sealed: sealed,
	})
}

// decodeRecord decodes a stored record without opening its message.
func decodeRecord(raw []byte) (outboxRecord, error) {
	var r outboxRecord
	if err := jsonUnmarshal(raw, &r); err != nil {
		return r, err
	}
	if r.Sealed == nil {
		return r, fmt.Errorf("decode record: outbox entry is not sealed")
	}
	return r, nil
}

// openEntry returns the entry stored under id. A message that does not
// open with box (the file was restored without its outbox key, or the
// record was tampered with) is not an error: the entry comes back with
// Unreadable set and only its scheduling fields, so the worker can drop
// it and the outbox keeps moving.
func openEntry(box *seal.Box, id uint64, raw []byte) (safereset.OutboxEntry, error) {
	r, err := decodeRecord(raw)
	if err != nil {
		return safereset.OutboxEntry{}, err
	}
	e := safereset.OutboxEntry{
		ID: id, Message: safereset.Message{Kind: r.Kind}, CreatedAt: r.CreatedAt, NotAfter: r.NotAfter,
		Attempts: r.Attempts, NextAttempt: r.NextAttempt, LastError: r.LastError, Claim: r.Claim,
	}
	plain, err := box.Open(r.Sealed, u64(id))
	if err != nil {
		e.Unreadable = true
		return e, nil
	}
	defer clear(plain)
	var p sealedPayload
	if err := jsonUnmarshal(plain, &p); err != nil {
		e.Unreadable = true
		return e, nil
	}
	e.Message, e.Webhook = p.Message, p.Webhook
	return e, nil
}

// legacyEntry reports whether raw is an entry written by a version that
// stored the whole OutboxEntry, message included, as plain JSON.
func legacyEntry(raw []byte) bool {
	return bytes.Contains(raw, []byte(`"message":`)) && !bytes.Contains(raw, []byte(`"sealed":`))
}

// sealLegacyEntries rewrites outbox entries of an older version sealed, so
// queued mails keep going out and their live pages no longer hold a token.
// The plaintext they leave in free pages is overwritten as bbolt reuses
// those pages.
func sealLegacyEntries(tx *bolt.Tx, box *seal.Box) error {
	b := tx.Bucket([]byte(bucketOutbox))
	type rewrite struct {
		id  uint64
		raw []byte
	}
	var todo []rewrite
	err := b.ForEach(func(k, v []byte) error {
		if len(k) != 8 || !legacyEntry(v) {
			return nil
		}
		var e safereset.OutboxEntry
		if err := jsonUnmarshal(v, &e); err != nil {
			return err
		}
		id := bytesU64(k)
		sealed, err := sealEntry(box, id, e)
		if err != nil {
			return err
		}
		todo = append(todo, rewrite{id, sealed})
		return nil
	})
	if err != nil {
		return err
	}
	// Writing while ForEach runs is not allowed in bbolt: rewrite after.
	for _, r := range todo {
		if err := b.Put(u64(r.id), r.raw); err != nil {
			return err
		}
	}
	return nil
}
