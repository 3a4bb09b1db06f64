package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/safereset/safereset"
	bolt "go.etcd.io/bbolt"
)

// Lock tokens live in one bucket keyed by user ID then hash, so a user's
// tokens are one cursor range (eviction, DeleteUser and LockAccount stay
// cheap) and a token is found only under the user it was issued to. The
// value is CreatedAt then ExpiresAt; the token's text never reaches the
// store.

// lockTokenRecordLen is the size of a stored lock token value.
const lockTokenRecordLen = 12 + 12

// lockTokenKey is a lock token's key: user ID then hash.
func lockTokenKey(userID uint64, hash [32]byte) []byte {
	return append(u64(userID), hash[:]...)
}

// encodeLockToken returns lt's stored value.
func encodeLockToken(lt safereset.LockToken) []byte {
	b := make([]byte, 0, lockTokenRecordLen)
	b = append(b, timeKey(lt.CreatedAt)...)
	return append(b, timeKey(lt.ExpiresAt)...)
}

// decodeLockToken decodes the entry k, v of the lock token bucket.
func decodeLockToken(k, v []byte) (safereset.LockToken, error) {
	if len(k) != 8+32 || len(v) != lockTokenRecordLen {
		return safereset.LockToken{}, fmt.Errorf("corrupt lock token record")
	}
	return safereset.LockToken{
		Hash:      [32]byte(k[8:]),
		UserID:    binary.BigEndian.Uint64(k[:8]),
		CreatedAt: keyTime(v[:12]),
		ExpiresAt: keyTime(v[12:]),
	}, nil
}

// userLockTokens returns the user's lock tokens, oldest CreatedAt first
// (ties in hash order, which is the key order).
func userLockTokens(tx *bolt.Tx, userID uint64) ([]safereset.LockToken, error) {
	prefix := u64(userID)
	var out []safereset.LockToken
	c := tx.Bucket([]byte(bucketLockTokens)).Cursor()
	for k, v := c.Seek(prefix); hasPrefix(k, prefix); k, v = c.Next() {
		lt, err := decodeLockToken(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, lt)
	}
	slices.SortStableFunc(out, func(a, b safereset.LockToken) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// storeLockToken stores lt (UserID already set) after dropping the
// user's lock tokens expired at now and then the oldest, so that at most
// MaxLockTokens remain with lt among them.
func storeLockToken(tx *bolt.Tx, lt safereset.LockToken, now time.Time) error {
	b := tx.Bucket([]byte(bucketLockTokens))
	key := lockTokenKey(lt.UserID, lt.Hash)
	if b.Get(key) != nil {
		return errTokenCollision
	}
	existing, err := userLockTokens(tx, lt.UserID)
	if err != nil {
		return err
	}
	kept := existing[:0]
	for _, t := range existing {
		if !now.Before(t.ExpiresAt) {
			if err := b.Delete(lockTokenKey(t.UserID, t.Hash)); err != nil {
				return err
			}
			continue
		}
		kept = append(kept, t)
	}
	for len(kept)+1 > safereset.MaxLockTokens {
		if err := b.Delete(lockTokenKey(kept[0].UserID, kept[0].Hash)); err != nil {
			return err
		}
		kept = kept[1:]
	}
	return b.Put(key, encodeLockToken(lt))
}

// deleteUserLockTokens removes every lock token of the user.
func deleteUserLockTokens(tx *bolt.Tx, userID uint64) error {
	prefix := u64(userID)
	b := tx.Bucket([]byte(bucketLockTokens))
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); hasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, slices.Clone(k))
	}
	// Deleting while iterating a bbolt cursor skips keys, so delete after.
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// validLockToken returns the user of emailKey when hash is its lock token
// and unexpired at now.
func validLockToken(tx *bolt.Tx, emailKey string, hash [32]byte, now time.Time) (safereset.User, error) {
	id, err := lockTokenOwner(tx, emailKey, hash, now)
	if err != nil {
		return safereset.User{}, err
	}
	return userRecord(tx, id)
}

// lockTokenOwner is validLockToken without decoding the user record, as
// tokenOwner is for reset tokens: a check costs the same whatever the
// user's record holds.
func lockTokenOwner(tx *bolt.Tx, emailKey string, hash [32]byte, now time.Time) (uint64, error) {
	id, err := tokenUserID(tx, emailKey)
	if err != nil {
		return 0, err
	}
	k := lockTokenKey(id, hash)
	v := tx.Bucket([]byte(bucketLockTokens)).Get(k)
	if v == nil {
		return 0, safereset.ErrTokenInvalid
	}
	lt, err := decodeLockToken(k, v)
	if err != nil {
		return 0, err
	}
	if !now.Before(lt.ExpiresAt) {
		return 0, safereset.ErrTokenExpired
	}
	return id, nil
}

// AddLockToken implements safereset.AccountLocker. CreatedAt defaults to
// the clock when zero; expired tokens are dropped by the clock.
func (db *DB) AddLockToken(ctx context.Context, emailKey string, lt safereset.LockToken) error {
	if lt.ExpiresAt.IsZero() {
		return errors.New("store: add lock token: token has no expiry")
	}
	now := db.now()
	if lt.CreatedAt.IsZero() {
		lt.CreatedAt = now
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		id, err := userID(tx, emailKey)
		if err != nil {
			return err
		}
		lt.UserID = id
		return storeLockToken(tx, lt, now)
	})
	if err != nil {
		return fmt.Errorf("store: add lock token: %w", err)
	}
	return nil
}

// CheckLockToken implements safereset.AccountLocker.
func (db *DB) CheckLockToken(ctx context.Context, emailKey string, hash [32]byte, now time.Time) error {
	err := db.view(ctx, func(tx *bolt.Tx) error {
		_, err := lockTokenOwner(tx, emailKey, hash, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: check lock token: %w", err)
	}
	return nil
}

// LockAccount implements safereset.AccountLocker. It runs in a write
// transaction of its own (never a shared batch, whose function may run
// twice), so of several concurrent calls with one token exactly one
// finds it; the others get safereset.ErrTokenInvalid.
func (db *DB) LockAccount(ctx context.Context, emailKey string, hash [32]byte, now, until time.Time, effects ...safereset.EffectsFunc) (safereset.User, error) {
	var u safereset.User
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		u, err = validLockToken(tx, emailKey, hash, now)
		if err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketLockTokens)).Delete(lockTokenKey(u.ID, hash)); err != nil {
			return err
		}
		if err := deleteUserTokens(tx, u.ID); err != nil {
			return err
		}
		if until.After(u.LockedUntil) {
			u.LockedUntil = until
		}
		if err := putJSON(tx.Bucket([]byte(bucketUsers)), u64(u.ID), u); err != nil {
			return err
		}
		return db.applyEffects(tx, u, effects)
	})
	if err != nil {
		return safereset.User{}, fmt.Errorf("store: lock account: %w", err)
	}
	return u, nil
}

// UnlockAccount implements safereset.AccountLocker. effects are written
// only when the account was locked at the store's clock: unlocking an
// account that is not locked records nothing (a lock that has run out is
// still cleared from the record).
func (db *DB) UnlockAccount(ctx context.Context, emailKey string, effects ...safereset.EffectsFunc) (safereset.User, error) {
	now := db.now()
	var u safereset.User
	err := db.update(ctx, func(tx *bolt.Tx) error {
		var err error
		u, err = userByEmail(tx, emailKey)
		if err != nil {
			return err
		}
		if u.LockedUntil.IsZero() {
			return nil
		}
		wasLocked := u.Locked(now)
		u.LockedUntil = time.Time{}
		if err := putJSON(tx.Bucket([]byte(bucketUsers)), u64(u.ID), u); err != nil {
			return err
		}
		if !wasLocked {
			return nil
		}
		return db.applyEffects(tx, u, effects)
	})
	if err != nil {
		return safereset.User{}, fmt.Errorf("store: unlock account: %w", err)
	}
	return u, nil
}
