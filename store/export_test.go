package store

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// TxID returns the ID of the last committed write transaction, so tests can
// count commits.
func TxID(t interface{ Fatal(...any) }, db *DB) int {
	var id int
	if err := db.bolt.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

// SetSchemaVersion overwrites the stored schema version.
func SetSchemaVersion(ctx context.Context, db *DB, v uint64) error {
	return db.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(keySchema), u64(v))
	})
}

// WriteForeignBolt creates a bbolt file with one bucket that is not ours.
func WriteForeignBolt(path string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("widgets"))
		return err
	})
	return errorsJoin(err, db.Close())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
