package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/safereset/safereset"
)

// errLockNotBuilt is returned until "this wasn't me" is stored by this
// engine; nothing calls these methods yet.
var errLockNotBuilt = errors.New("postgres: account locks are not built yet")

// AddLockToken implements safereset.AccountLocker.
func (db *DB) AddLockToken(ctx context.Context, emailKey string, lt safereset.LockToken) error {
	return errLockNotBuilt
}

// CheckLockToken implements safereset.AccountLocker.
func (db *DB) CheckLockToken(ctx context.Context, emailKey string, hash [32]byte, now time.Time) error {
	return errLockNotBuilt
}

// LockAccount implements safereset.AccountLocker.
func (db *DB) LockAccount(ctx context.Context, emailKey string, hash [32]byte, now, until time.Time, effects ...safereset.EffectsFunc) (safereset.User, error) {
	return safereset.User{}, errLockNotBuilt
}

// UnlockAccount implements safereset.AccountLocker.
func (db *DB) UnlockAccount(ctx context.Context, emailKey string, effects ...safereset.EffectsFunc) (safereset.User, error) {
	return safereset.User{}, errLockNotBuilt
}
