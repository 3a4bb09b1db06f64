package store

import (
	"context"
	"sync"

	"github.com/safereset/safereset"
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

// CopyOutboxRecord overwrites entry to's stored record with from's, as an
// attacker with write access to the file could.
func CopyOutboxRecord(ctx context.Context, db *DB, from, to uint64) error {
	return db.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketOutbox))
		return b.Put(u64(to), append([]byte(nil), b.Get(u64(from))...))
	})
}

// PutLegacyOutboxEntry stores e in clear, as versions before sealing did.
func PutLegacyOutboxEntry(ctx context.Context, db *DB, e safereset.OutboxEntry) error {
	return db.update(ctx, func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket([]byte(bucketOutbox)), u64(e.ID), e); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketOutboxDue)).Put(dueKey(e.NextAttempt, e.ID), []byte{})
	})
}

// OutboxRecordBytes returns the stored record of entry id.
func OutboxRecordBytes(ctx context.Context, db *DB, id uint64) ([]byte, error) {
	var out []byte
	err := db.view(ctx, func(tx *bolt.Tx) error {
		out = append(out, tx.Bucket([]byte(bucketOutbox)).Get(u64(id))...)
		return nil
	})
	return out, err
}

// QueuedCommits returns how many calls wait for the group committer.
func QueuedCommits(db *DB) int { return len(db.commits.reqs) }

// HoldCommits keeps the group committer busy in a transaction until
// release is called, so that later writes queue up behind it.
func HoldCommits(db *DB) (release func(), done <-chan error) {
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		errc <- db.batch(context.Background(), func(*bolt.Tx) error {
			once.Do(func() { close(entered) })
			<-gate
			return nil
		})
	}()
	<-entered
	return func() { close(gate) }, errc
}

// Batch runs fn through the group committer.
func Batch(ctx context.Context, db *DB, fn func() error) error {
	return db.batch(ctx, func(*bolt.Tx) error { return fn() })
}
