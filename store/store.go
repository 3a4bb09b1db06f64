package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/seal"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version this package writes into the meta
// bucket. Open refuses files that carry any other version.
const SchemaVersion = 1

// ErrLocked is returned by Open when another process (or another open
// handle in this process) holds the database file's lock past
// Options.Timeout.
var ErrLocked = errors.New("database is locked by another process (is another safereset running?)")

// ErrSchema is returned by Open when the file carries a schema version this
// build does not know (written by a newer safereset), or is a bbolt file
// that safereset did not create.
var ErrSchema = errors.New("unknown database schema version")

// ErrAPIKeyExists is returned by CreateAPIKey when the key's ID or hash is
// already stored.
var ErrAPIKeyExists = safereset.ErrAPIKeyExists

// Bucket names and meta keys. Keys are described next to each bucket.
const (
	bucketMeta         = "meta"            // "schema" -> uint64; "unknownRequests" -> uint64
	bucketUsers        = "users"           // uint64 id -> JSON safereset.User
	bucketUsersByEmail = "users_by_email"  // EmailKey -> uint64 id
	bucketTokens       = "tokens"          // sha256 -> user id, CreatedAt, ExpiresAt (binary, see encodeToken)
	bucketUserTokens   = "user_tokens"     // uint64 user id ++ sha256 -> uint64 insertion sequence
	bucketAPIKeys      = "apikeys"         // id -> JSON apiKeyRecord
	bucketAPIKeyHashes = "apikeys_by_hash" // sha256 -> id
	bucketOutbox       = "outbox"          // uint64 id -> JSON safereset.OutboxEntry
	bucketOutboxDue    = "outbox_due"      // time(NextAttempt) ++ uint64 id -> empty
	bucketLockTokens   = "lock_tokens"     // uint64 user id ++ sha256 -> CreatedAt, ExpiresAt (binary, see encodeLockToken)

	keySchema          = "schema"
	keyUnknownRequests = "unknownRequests"
)

// allBuckets lists every bucket Open creates.
func allBuckets() []string {
	return []string{
		bucketMeta, bucketUsers, bucketUsersByEmail, bucketTokens, bucketUserTokens,
		bucketAPIKeys, bucketAPIKeyHashes, bucketOutbox, bucketOutboxDue, bucketAudit, bucketLockTokens,
	}
}

// Options configures Open.
type Options struct {
	// Timeout is how long Open waits for the file lock; 1s if zero.
	Timeout time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// NoSync skips fsync after each commit. Only for benchmarks and tests:
	// a crash can lose acknowledged writes.
	NoSync bool
	// OutboxKey (seal.KeySize bytes, kept outside the database) seals the
	// message of every outbox entry. When nil, Open makes a random key
	// that lives only as long as the DB: mail queued through this handle
	// cannot be read after a reopen (tests and one-shot tools only).
	OutboxKey []byte
}

// DB is a safereset.Store kept in one bbolt file.
type DB struct {
	bolt    *bolt.DB
	path    string
	now     func() time.Time
	box     *seal.Box
	commits *committer
	// history is --password-history (see KeepPasswordHistory).
	history atomic.Int32
	// apiKeys spares APIKeyByHash a JSON decode per request.
	apiKeys apiKeyMemo
}

var _ safereset.Store = (*DB)(nil)

// Open opens (creating if needed, mode 0600, parent directory 0700) the
// database at path, creates missing buckets, and checks or sets the schema
// version. It returns an error wrapping ErrLocked when the file is locked
// and ErrSchema when the file is not a database this build understands.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key := opts.OutboxKey
	if key == nil {
		var err error
		if key, err = seal.NewKey(); err != nil {
			return nil, fmt.Errorf("store: open %s: outbox key: %w", path, err)
		}
	}
	box, err := seal.New(key)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: outbox key: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		if err := initSchema(tx); err != nil {
			return err
		}
		// Entries an older version stored in clear are sealed before
		// anything else reads the outbox as sealed records.
		if err := sealLegacyEntries(tx, box); err != nil {
			return err
		}
		return releaseClaims(tx, opts.Now())
	})
	if err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &DB{bolt: bdb, path: path, now: opts.Now, box: box, commits: newCommitter(bdb)}, nil
}

// initSchema checks the schema version and creates every bucket.
func initSchema(tx *bolt.Tx) error {
	if meta := tx.Bucket([]byte(bucketMeta)); meta != nil {
		v := meta.Get([]byte(keySchema))
		if len(v) != 8 {
			return fmt.Errorf("%w: meta bucket has no valid version", ErrSchema)
		}
		if got := binary.BigEndian.Uint64(v); got != SchemaVersion {
			return fmt.Errorf("%w: file has version %d, this build reads %d", ErrSchema, got, SchemaVersion)
		}
	} else {
		// No meta bucket: either a brand-new file or someone else's bbolt file.
		foreign := false
		if err := tx.ForEach(func([]byte, *bolt.Bucket) error { foreign = true; return nil }); err != nil {
			return err
		}
		if foreign {
			return fmt.Errorf("%w: not a safereset database (no meta bucket)", ErrSchema)
		}
	}
	for _, name := range allBuckets() {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket([]byte(bucketMeta))
	if meta.Get([]byte(keySchema)) == nil {
		return meta.Put([]byte(keySchema), u64(SchemaVersion))
	}
	return nil
}

// Path returns the file the database lives in.
func (db *DB) Path() string { return db.path }

// Close commits the writes already queued, then releases the file and
// its lock.
func (db *DB) Close() error {
	db.commits.close()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Check verifies the bbolt file's page structure and this package's
// indexes (every index entry points at a record and every record has its
// index entries). It returns all problems found, joined.
func (db *DB) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	var errs []error
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		errs = append(errs, checkIndexes(tx)...)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: check: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the whole database file to w from a
// read transaction, so writers carry on meanwhile. It stops early when ctx
// is cancelled.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil && ctx.Err() != nil {
		// bbolt flattens writer errors into text; report the cause itself.
		err = ctx.Err()
	}
	if err != nil {
		return n, fmt.Errorf("store: backup: %w", err)
	}
	return n, nil
}

// ctxWriter fails writes once its context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// update runs fn in one write transaction after checking ctx.
func (db *DB) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(fn)
}

// batch runs fn in a write transaction that may be shared with other
// concurrent calls (group commit, see committer); it returns once that
// transaction is committed. fn may run more than once.
func (db *DB) batch(ctx context.Context, fn func(*bolt.Tx) error) error {
	return db.commits.do(ctx, fn)
}

// view runs fn in one read transaction after checking ctx.
func (db *DB) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(fn)
}

// bytesU64 decodes u64.
func bytesU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// u64 encodes v big-endian so keys sort numerically.
func u64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v)
}

// timeKey encodes t in 12 bytes that sort in time order: Unix seconds with
// the sign bit flipped, then nanoseconds.
func timeKey(t time.Time) []byte {
	b := make([]byte, 0, 12)
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^(1<<63))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// keyTime decodes timeKey.
func keyTime(b []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(b[:8]) ^ (1 << 63))
	return time.Unix(sec, int64(binary.BigEndian.Uint32(b[8:12]))).UTC()
}

// getJSON decodes the value under key into v; it reports false when the
// key is missing. json.Unmarshal copies everything out of bbolt's memory.
func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, jsonUnmarshal(raw, v)
}

// jsonUnmarshal decodes a stored record.
func jsonUnmarshal(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	return nil
}

// putJSON encodes v under key.
func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// hasPrefix is bytes.HasPrefix, named for cursor loops.
func hasPrefix(k, prefix []byte) bool { return k != nil && bytes.HasPrefix(k, prefix) }

// Ping reports whether the database answers a read transaction; it is
// cheap enough for every readiness probe.
func (db *DB) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(func(*bolt.Tx) error { return nil })
}
