package store

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// PutRawLockToken writes a lock token entry as it is, bypassing every
// rule, so tests can make what only corruption or an older build makes.
func PutRawLockToken(ctx context.Context, db *DB, userID uint64, hash [32]byte, value []byte) error {
	return db.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketLockTokens)).Put(lockTokenKey(userID, hash), value)
	})
}
