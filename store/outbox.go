package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
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
// oldest (lowest ID, which is enqueue order) first, without claiming them.
// A limit below 1 means no limit. It serves tests and admin tooling; the
// outbox worker uses ClaimMail.
func (db *DB) DueMail(ctx context.Context, now time.Time, limit int) ([]safereset.OutboxEntry, error) {
	var out []safereset.OutboxEntry
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = dueEntries(tx, db.box, now, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: due mail: %w", err)
	}
	return out, nil
}

// ClaimMail leases up to limit due entries (see safereset.Store). bbolt's
// file lock already makes this process the only sender, so the lease only
// keeps this process's own later calls off the entries; Open releases
// leases a crashed process left behind.
func (db *DB) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]safereset.OutboxEntry, error) {
	var out []safereset.OutboxEntry
	err := db.batch(ctx, func(tx *bolt.Tx) error {
		due, err := dueEntries(tx, db.box, now, limit)
		if err != nil {
			return err
		}
		out = make([]safereset.OutboxEntry, 0, len(due))
		for _, e := range due {
			r, err := outboxRecordOf(tx, e.ID)
			if err != nil {
				return err
			}
			e.Claim = newClaim()
			r.Claim = e.Claim
			if err := moveRecord(tx, e.ID, r, now.Add(lease)); err != nil {
				return err
			}
			e.NextAttempt = now.Add(lease)
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim mail: %w", err)
	}
	return out, nil
}

// dueEntries reads and opens up to limit entries due at now, lowest ID
// first.
func dueEntries(tx *bolt.Tx, box *seal.Box, now time.Time, limit int) ([]safereset.OutboxEntry, error) {
	var out []safereset.OutboxEntry
	err := func() error {
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
			e, err := outboxEntry(tx, box, id)
			if errors.Is(err, safereset.ErrMailNotFound) {
				return fmt.Errorf("outbox due index points at missing entry %d", id)
			}
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	}()
	return out, err
}

// moveRecord stores entry id's record r with a new NextAttempt and moves
// its due index entry. The sealed message is kept as it is: scheduling
// never opens it.
func moveRecord(tx *bolt.Tx, id uint64, r outboxRecord, next time.Time) error {
	due := tx.Bucket([]byte(bucketOutboxDue))
	if err := due.Delete(dueKey(r.NextAttempt, id)); err != nil {
		return err
	}
	r.NextAttempt = next
	if err := putJSON(tx.Bucket([]byte(bucketOutbox)), u64(id), r); err != nil {
		return err
	}
	return due.Put(dueKey(next, id), []byte{})
}

// releaseClaims makes every entry a previous process claimed due at now:
// that process is gone (this one holds the file lock), and each claimed
// entry was due when it was claimed.
func releaseClaims(tx *bolt.Tx, now time.Time) error {
	type claimed struct {
		id uint64
		r  outboxRecord
	}
	var stale []claimed
	c := tx.Bucket([]byte(bucketOutbox)).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := decodeRecord(v)
		if err != nil {
			return err
		}
		if r.Claim != 0 && len(k) == 8 {
			stale = append(stale, claimed{bytesU64(k), r})
		}
	}
	for _, s := range stale {
		s.r.Claim = 0
		if err := moveRecord(tx, s.id, s.r, now); err != nil {
			return err
		}
	}
	return nil
}

// newClaim returns a random non-zero claim. Claims only need to differ from
// each other, not to be secret.
func newClaim() uint64 {
	for {
		if c := rand.Uint64(); c != 0 {
			return c
		}
	}
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

// DeleteMail removes an entry held by claim (after delivery, or when it is
// dropped). It returns safereset.ErrMailNotFound when the entry is already
// gone and safereset.ErrMailClaimLost when another claim holds it.
func (db *DB) DeleteMail(ctx context.Context, id, claim uint64) error {
	err := db.batch(ctx, func(tx *bolt.Tx) error {
		r, err := claimedRecord(tx, id, claim)
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

// RescheduleMail records a failed attempt of an entry held by claim: it
// sets the entry's NextAttempt, Attempts and LastError and releases the
// claim. Errors as DeleteMail.
func (db *DB) RescheduleMail(ctx context.Context, id, claim uint64, next time.Time, attempts int, lastErr string) error {
	err := db.batch(ctx, func(tx *bolt.Tx) error {
		r, err := claimedRecord(tx, id, claim)
		if err != nil {
			return err
		}
		r.Attempts, r.LastError, r.Claim = attempts, lastErr, 0
		return moveRecord(tx, id, r, next)
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

// claimedRecord loads the record of one entry held by claim, or returns
// ErrMailNotFound or ErrMailClaimLost.
func claimedRecord(tx *bolt.Tx, id, claim uint64) (outboxRecord, error) {
	r, err := outboxRecordOf(tx, id)
	if err == nil && r.Claim != claim {
		err = safereset.ErrMailClaimLost
	}
	return r, err
}

// dueKey is the due index key: NextAttempt then ID.
func dueKey(next time.Time, id uint64) []byte {
	return append(timeKey(next), u64(id)...)
}
