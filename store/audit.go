package store

import (
	"context"
	"fmt"
	"time"

	"github.com/safereset/safereset"
	bolt "go.etcd.io/bbolt"
)

// bucketAudit holds the audit trail: uint64 id -> JSON safereset.AuditEntry.
// IDs increase in append order; entries carry no secrets (see
// safereset.AuditEntry), so they are stored as they are.
const bucketAudit = "audit"

// applyEffects renders each fn for u and writes the results in tx. Audit
// entries without a user get u's ID.
func (db *DB) applyEffects(tx *bolt.Tx, u safereset.User, fns []safereset.EffectsFunc) error {
	for _, fn := range fns {
		if fn == nil {
			continue
		}
		e, err := fn(u)
		if err != nil {
			return fmt.Errorf("render effects: %w", err)
		}
		for i := range e.Audit {
			if e.Audit[i].UserID == 0 {
				e.Audit[i].UserID = u.ID
			}
		}
		if err := db.writeEffects(tx, e); err != nil {
			return err
		}
	}
	return nil
}

// writeEffects appends e's audit entries and queues its outbox entries.
// Times default to the clock.
func (db *DB) writeEffects(tx *bolt.Tx, e safereset.Effects) error {
	now := db.now()
	audit := tx.Bucket([]byte(bucketAudit))
	for _, a := range e.Audit {
		id, err := audit.NextSequence()
		if err != nil {
			return err
		}
		a.ID = id
		if a.Time.IsZero() {
			a.Time = now
		}
		if err := putJSON(audit, u64(id), a); err != nil {
			return err
		}
	}
	for _, o := range e.Outbox {
		if o.CreatedAt.IsZero() {
			o.CreatedAt = now
		}
		if o.NextAttempt.IsZero() {
			o.NextAttempt = o.CreatedAt
		}
		if _, err := enqueue(tx, db.box, o); err != nil {
			return err
		}
	}
	return nil
}

// Record implements safereset.Store.
func (db *DB) Record(ctx context.Context, e safereset.Effects) error {
	if err := db.update(ctx, func(tx *bolt.Tx) error { return db.writeEffects(tx, e) }); err != nil {
		return fmt.Errorf("store: record: %w", err)
	}
	return nil
}

// AuditLog implements safereset.Store. A Limit below 1 means 100.
func (db *DB) AuditLog(ctx context.Context, q safereset.AuditQuery) ([]safereset.AuditEntry, error) {
	if q.Limit < 1 {
		q.Limit = 100
	}
	var out []safereset.AuditEntry
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketAudit)).Cursor()
		for k, v := c.Seek(u64(q.After + 1)); k != nil && len(out) < q.Limit; k, v = c.Next() {
			var a safereset.AuditEntry
			if err := jsonUnmarshal(v, &a); err != nil {
				return err
			}
			if a.ID <= q.After || a.Time.Before(q.Since) {
				continue
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return out, nil
}

// PruneAudit implements safereset.Store. Entries are appended in time
// order, so it deletes from the oldest until it meets one at or after
// before.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := db.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket([]byte(bucketAudit))
		var old [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var a safereset.AuditEntry
			if err := jsonUnmarshal(v, &a); err != nil {
				return err
			}
			if !a.Time.Before(before) {
				break
			}
			old = append(old, append([]byte(nil), k...))
		}
		// Deleting while iterating a bbolt cursor skips keys, so delete after.
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune audit: %w", err)
	}
	return n, nil
}

// writeAll writes each of effects in tx.
func (db *DB) writeAll(tx *bolt.Tx, effects []safereset.Effects) error {
	for _, e := range effects {
		if err := db.writeEffects(tx, e); err != nil {
			return err
		}
	}
	return nil
}

// exportAudit reads the whole trail, oldest first, for store copy.
func exportAudit(tx *bolt.Tx) ([]safereset.AuditEntry, error) {
	var out []safereset.AuditEntry
	err := tx.Bucket([]byte(bucketAudit)).ForEach(func(_, v []byte) error {
		var a safereset.AuditEntry
		err := jsonUnmarshal(v, &a)
		out = append(out, a)
		return err
	})
	return out, err
}

// importAudit writes a copied trail into an empty one, keeping every ID;
// new entries continue after the highest.
func importAudit(tx *bolt.Tx, entries []safereset.AuditEntry) error {
	b := tx.Bucket([]byte(bucketAudit))
	if k, _ := b.Cursor().First(); k != nil {
		return ErrNotEmpty
	}
	var top uint64
	for _, a := range entries {
		if a.ID == 0 {
			return fmt.Errorf("audit entry without an id")
		}
		if err := putJSON(b, u64(a.ID), a); err != nil {
			return err
		}
		top = max(top, a.ID)
	}
	return b.SetSequence(max(top, b.Sequence()))
}
