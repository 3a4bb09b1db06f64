package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/seal"
	bolt "go.etcd.io/bbolt"
)

// EnqueueMail appends e to the outbox and returns its new ID. CreatedAt
// defaults to the clock and NextAttempt to CreatedAt. It is not part of
// safereset.Store (RequestReset queues token mails itself); it serves
// tests and admin tooling.
func (db *DB) EnqueueMail(ctx context.Context, e safereset.OutboxEntry) (uint64, error) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = db.now()
	}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = e.CreatedAt
	}
	var id uint64
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		id, err = enqueue(tx, db.box, e)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: enqueue mail: %w", err)
	}
	return id, nil
}

// DueMail returns up to limit entries whose NextAttempt is not after now,
// oldest (lowest ID, which is enqueue order) first. A limit below 1 means
// no limit.
func (db *DB) DueMail(ctx context.Context, now time.Time, limit int) ([]safereset.OutboxEntry, error) {
	var out []safereset.OutboxEntry
	err := db.view(ctx, func(tx *bolt.Tx) error {
		// The due index is in NextAttempt order: collect every due ID from
		// the keys alone, then decode only the oldest limit of them.
		end := timeKey(now)
		var ids []uint64
		c := tx.Bucket([]byte(bucketOutboxDue)).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 12+8 {
				return fmt.Errorf("corrupt outbox due index entry")
			}
			if string(k[:12]) > string(end) {
				break
			}
			ids = append(ids, binary.BigEndian.Uint64(k[12:]))
		}
		slices.Sort(ids)
		if limit > 0 && len(ids) > limit {
			ids = ids[:limit]
		}
		out = make([]safereset.OutboxEntry, 0, len(ids))
		for _, id := range ids {
			e, err := outboxEntry(tx, db.box, id)
			if errors.Is(err, safereset.ErrMailNotFound) {
				return fmt.Errorf("outbox due index points at missing entry %d", id)
			}
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: due mail: %w", err)
	}
	return out, nil
}

// NextMailAt returns the earliest NextAttempt in the outbox, or the zero
// time when the outbox is empty.
func (db *DB) NextMailAt(ctx context.Context) (time.Time, error) {
	var next time.Time
	err := db.view(ctx, func(tx *bolt.Tx) error {
		k, _ := tx.Bucket([]byte(bucketOutboxDue)).Cursor().First()
		if k == nil {
			return nil
		}
		if len(k) != 12+8 {
			return fmt.Errorf("corrupt outbox due index entry")
		}
		next = keyTime(k)
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("store: next mail at: %w", err)
	}
	return next, nil
}

// DeleteMail removes an entry (after delivery, or when it is dropped). It
// returns safereset.ErrMailNotFound when the entry is already gone.
func (db *DB) DeleteMail(ctx context.Context, id uint64) error {
	err := db.batch(ctx, func(tx *bolt.Tx) error {
		r, err := outboxRecordOf(tx, id)
		if err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketOutboxDue)).Delete(dueKey(r.NextAttempt, id)); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketOutbox)).Delete(u64(id))
	})
	if err != nil {
		return fmt.Errorf("store: delete mail: %w", err)
	}
	return nil
}

// RescheduleMail records a failed attempt: it sets the entry's
// NextAttempt, Attempts and LastError. It returns
// safereset.ErrMailNotFound when the entry is gone.
func (db *DB) RescheduleMail(ctx context.Context, id uint64, next time.Time, attempts int, lastErr string) error {
	err := db.batch(ctx, func(tx *bolt.Tx) error {
		r, err := outboxRecordOf(tx, id)
		if err != nil {
			return err
		}
		due := tx.Bucket([]byte(bucketOutboxDue))
		if err := due.Delete(dueKey(r.NextAttempt, id)); err != nil {
			return err
		}
		// The sealed message is kept as it is: rescheduling never opens it.
		r.NextAttempt, r.Attempts, r.LastError = next, attempts, lastErr
		if err := putJSON(tx.Bucket([]byte(bucketOutbox)), u64(id), r); err != nil {
			return err
		}
		return due.Put(dueKey(next, id), []byte{})
	})
	if err != nil {
		return fmt.Errorf("store: reschedule mail: %w", err)
	}
	return nil
}

// OutboxStats returns the number of queued entries and the CreatedAt of
// the first one enqueued (zero when empty).
func (db *DB) OutboxStats(ctx context.Context) (int, time.Time, error) {
	var (
		depth  int
		oldest time.Time
	)
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketOutbox))
		depth = b.Stats().KeyN
		k, _ := b.Cursor().First()
		if k == nil {
			return nil
		}
		r, err := decodeRecord(b.Get(k))
		if err != nil {
			return err
		}
		oldest = r.CreatedAt
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: outbox stats: %w", err)
	}
	return depth, oldest, nil
}

// enqueue stores e, its message sealed, under the next outbox ID, with
// its due index entry.
func enqueue(tx *bolt.Tx, box *seal.Box, e safereset.OutboxEntry) (uint64, error) {
	outbox := tx.Bucket([]byte(bucketOutbox))
	id, err := outbox.NextSequence()
	if err != nil {
		return 0, err
	}
	raw, err := sealEntry(box, id, e)
	if err != nil {
		return 0, err
	}
	if err := outbox.Put(u64(id), raw); err != nil {
		return 0, err
	}
	return id, tx.Bucket([]byte(bucketOutboxDue)).Put(dueKey(e.NextAttempt, id), []byte{})
}

// outboxEntry loads and opens one entry or returns ErrMailNotFound.
func outboxEntry(tx *bolt.Tx, box *seal.Box, id uint64) (safereset.OutboxEntry, error) {
	raw := tx.Bucket([]byte(bucketOutbox)).Get(u64(id))
	if raw == nil {
		return safereset.OutboxEntry{}, safereset.ErrMailNotFound
	}
	return openEntry(box, id, raw)
}

// outboxRecordOf loads one entry's record, without opening its message,
// or returns ErrMailNotFound.
func outboxRecordOf(tx *bolt.Tx, id uint64) (outboxRecord, error) {
	raw := tx.Bucket([]byte(bucketOutbox)).Get(u64(id))
	if raw == nil {
		return outboxRecord{}, safereset.ErrMailNotFound
	}
	return decodeRecord(raw)
}

// dueKey is the due index key: NextAttempt then ID.
func dueKey(next time.Time, id uint64) []byte {
	return append(timeKey(next), u64(id)...)
}
