package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/safereset/safereset"
	bolt "go.etcd.io/bbolt"
)

// CreateUser stores u under a new ID. It fills EmailKey with
// safereset.NormalizeEmail(u.Email) when empty and CreatedAt with the
// clock when zero, and returns the stored user. It returns
// safereset.ErrUserExists when the email key is taken.
func (db *DB) CreateUser(ctx context.Context, u safereset.User, effects ...safereset.EffectsFunc) (safereset.User, error) {
	if u.EmailKey == "" {
		u.EmailKey = safereset.NormalizeEmail(u.Email)
	}
	if u.EmailKey == "" {
		return safereset.User{}, fmt.Errorf("store: create user: empty email address")
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = db.now()
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		byEmail := tx.Bucket([]byte(bucketUsersByEmail))
		key := []byte(u.EmailKey)
		if byEmail.Get(key) != nil {
			return safereset.ErrUserExists
		}
		users := tx.Bucket([]byte(bucketUsers))
		id, err := users.NextSequence()
		if err != nil {
			return err
		}
		u.ID = id
		if err := putJSON(users, u64(id), u); err != nil {
			return err
		}
		if err := byEmail.Put(key, u64(id)); err != nil {
			return err
		}
		return db.applyEffects(tx, u, effects)
	})
	if err != nil {
		return safereset.User{}, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}

// UserByEmail returns the user whose EmailKey is emailKey, or
// safereset.ErrUserNotFound. emailKey must already be normalized.
func (db *DB) UserByEmail(ctx context.Context, emailKey string) (safereset.User, error) {
	var u safereset.User
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		u, err = userByEmail(tx, emailKey)
		return err
	})
	if err != nil {
		return safereset.User{}, fmt.Errorf("store: user by email: %w", err)
	}
	return u, nil
}

// SetPasswordHash replaces the user's password hash and sets
// PasswordChangedAt to at. It returns safereset.ErrUserNotFound when no
// user has emailKey. Outstanding reset tokens are left alone.
func (db *DB) SetPasswordHash(ctx context.Context, emailKey, phc string, at time.Time) error {
	if phc == "" {
		return errEmptyHash
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		u, err := userByEmail(tx, emailKey)
		if err != nil {
			return err
		}
		u.PasswordHash = phc
		u.PasswordChangedAt = at
		return putJSON(tx.Bucket([]byte(bucketUsers)), u64(u.ID), u)
	})
	if err != nil {
		return fmt.Errorf("store: set password hash: %w", err)
	}
	return nil
}

// DeleteUser removes the user, its email index entry and all its reset
// and lock tokens. It returns safereset.ErrUserNotFound when no user has emailKey.
// Mails already queued for the user stay in the outbox.
func (db *DB) DeleteUser(ctx context.Context, emailKey string, effects ...safereset.EffectsFunc) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		u, err := userByEmail(tx, emailKey)
		if err != nil {
			return err
		}
		if err := deleteUserTokens(tx, u.ID); err != nil {
			return err
		}
		if err := deleteUserLockTokens(tx, u.ID); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketUsers)).Delete(u64(u.ID)); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bucketUsersByEmail)).Delete([]byte(emailKey)); err != nil {
			return err
		}
		return db.applyEffects(tx, u, effects)
	})
	if err != nil {
		return fmt.Errorf("store: delete user: %w", err)
	}
	return nil
}

// CountUsers returns the number of stored users.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte(bucketUsersByEmail)).Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// userID returns the ID indexed under emailKey, or ErrUserNotFound.
func userID(tx *bolt.Tx, emailKey string) (uint64, error) {
	v := tx.Bucket([]byte(bucketUsersByEmail)).Get([]byte(emailKey))
	if v == nil {
		return 0, safereset.ErrUserNotFound
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("corrupt email index entry (%d bytes)", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// userByEmail loads the user indexed under emailKey, or ErrUserNotFound.
func userByEmail(tx *bolt.Tx, emailKey string) (safereset.User, error) {
	id, err := userID(tx, emailKey)
	if err != nil {
		return safereset.User{}, err
	}
	var u safereset.User
	ok, err := getJSON(tx.Bucket([]byte(bucketUsers)), u64(id), &u)
	if err != nil {
		return safereset.User{}, err
	}
	if !ok {
		return safereset.User{}, fmt.Errorf("email index points at missing user %d", id)
	}
	return u, nil
}
