package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/safereset/safereset"
	bolt "go.etcd.io/bbolt"
)

// ErrNotEmpty is returned by Import into a database that holds data.
var ErrNotEmpty = errors.New("target database is not empty")

// Export reads everything from one read transaction (a consistent view).
// Outbox claims are dropped: the copy is taken offline. Lock tokens
// expired at the clock are left behind.
func (db *DB) Export(ctx context.Context) (safereset.Dump, error) {
	var d safereset.Dump
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte(bucketUsers)).ForEach(func(_, v []byte) error {
			var u safereset.User
			err := jsonUnmarshal(v, &u)
			d.Users = append(d.Users, u)
			return err
		}); err != nil {
			return err
		}
		tokens := tx.Bucket([]byte(bucketTokens))
		for _, u := range d.Users {
			ts, err := userTokens(tx, u.ID)
			if err != nil {
				return err
			}
			for _, t := range ts {
				d.Tokens = append(d.Tokens, t.tok)
			}
		}
		if n := tokens.Stats().KeyN; n != len(d.Tokens) {
			return fmt.Errorf("%d tokens stored but %d belong to users", n, len(d.Tokens))
		}
		// Only live lock tokens are carried: an expired one can never lock.
		now := db.now()
		for _, u := range d.Users {
			lts, err := userLockTokens(tx, u.ID)
			if err != nil {
				return err
			}
			for _, lt := range lts {
				if now.Before(lt.ExpiresAt) {
					d.LockTokens = append(d.LockTokens, lt)
				}
			}
		}
		if err := tx.Bucket([]byte(bucketAPIKeys)).ForEach(func(_, v []byte) error {
			var rec apiKeyRecord
			err := jsonUnmarshal(v, &rec)
			d.APIKeys = append(d.APIKeys, rec.key())
			return err
		}); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketOutbox)).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("corrupt outbox key")
			}
			e, err := openEntry(db.box, bytesU64(k), v)
			e.Claim = 0
			d.Outbox = append(d.Outbox, e)
			return err
		}); err != nil {
			return err
		}
		var err error
		d.Audit, err = exportAudit(tx)
		return err
	})
	if err != nil {
		return safereset.Dump{}, fmt.Errorf("store: export: %w", err)
	}
	return d, nil
}

// Import writes d into an empty database in one transaction, keeping every
// ID, and refuses (ErrNotEmpty) a database that holds any user, token, API
// key or queued mail.
func (db *DB) Import(ctx context.Context, d safereset.Dump) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		for _, b := range []string{bucketUsers, bucketTokens, bucketAPIKeys, bucketOutbox, bucketLockTokens} {
			if k, _ := tx.Bucket([]byte(b)).Cursor().First(); k != nil {
				return ErrNotEmpty
			}
		}
		users, byEmail := tx.Bucket([]byte(bucketUsers)), tx.Bucket([]byte(bucketUsersByEmail))
		var maxUser uint64
		for _, u := range d.Users {
			if err := putJSON(users, u64(u.ID), u); err != nil {
				return err
			}
			if err := byEmail.Put([]byte(u.EmailKey), u64(u.ID)); err != nil {
				return err
			}
			maxUser = max(maxUser, u.ID)
		}
		if err := users.SetSequence(maxUser); err != nil {
			return err
		}
		// Inserted oldest first so eviction order survives the copy.
		toks := slices.Clone(d.Tokens)
		slices.SortStableFunc(toks, func(a, b safereset.ResetToken) int { return a.CreatedAt.Compare(b.CreatedAt) })
		for _, t := range toks {
			if err := insertToken(tx, t); err != nil {
				return err
			}
		}
		locks := tx.Bucket([]byte(bucketLockTokens))
		for _, lt := range d.LockTokens {
			if err := locks.Put(lockTokenKey(lt.UserID, lt.Hash), encodeLockToken(lt)); err != nil {
				return err
			}
		}
		keys, byHash := tx.Bucket([]byte(bucketAPIKeys)), tx.Bucket([]byte(bucketAPIKeyHashes))
		for _, k := range d.APIKeys {
			rec := apiKeyRecord{ID: k.ID, Name: k.Name, Hash: k.Hash, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
			if err := putJSON(keys, []byte(k.ID), rec); err != nil {
				return err
			}
			if err := byHash.Put(k.Hash[:], []byte(k.ID)); err != nil {
				return err
			}
		}
		outbox, due := tx.Bucket([]byte(bucketOutbox)), tx.Bucket([]byte(bucketOutboxDue))
		entries := slices.Clone(d.Outbox)
		slices.SortFunc(entries, func(a, b safereset.OutboxEntry) int { return cmp.Compare(a.ID, b.ID) })
		var maxMail uint64
		for _, e := range entries {
			e.Claim = 0
			raw, err := sealEntry(db.box, e.ID, e)
			if err != nil {
				return err
			}
			if err := outbox.Put(u64(e.ID), raw); err != nil {
				return err
			}
			if err := due.Put(dueKey(e.NextAttempt, e.ID), []byte{}); err != nil {
				return err
			}
			maxMail = max(maxMail, e.ID)
		}
		if err := outbox.SetSequence(max(maxMail, outbox.Sequence())); err != nil {
			return err
		}
		return importAudit(tx, d.Audit)
	})
	if err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	return nil
}
