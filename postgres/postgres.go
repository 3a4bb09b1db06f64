package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/seal"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrSchema is returned by Open when the database's schema version is not
// the one this build was made for.
var ErrSchema = errors.New("database schema version mismatch")

// ErrBackupUnsupported is returned by Backup: PostgreSQL has its own tools.
var ErrBackupUnsupported = errors.New("backup of a PostgreSQL database: use pg_dump")

// versionTable is where goose records applied migrations.
const versionTable = "safereset_schema_version"

// Options configures Open.
type Options struct {
	// Now is the clock for defaults (CreatedAt and the like); time.Now if nil.
	Now func() time.Time
	// OutboxKey seals queued mails (seal.KeySize bytes). Nil means the key
	// shared by every replica in the database, created on first use.
	OutboxKey []byte
	// MaxConns caps the connection pool; pgx's default if zero.
	MaxConns int32
}

// DB is a safereset.Store in a PostgreSQL database.
type DB struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	outbox *seal.Box
	// sweeps counts rate-limit takes between sweeps of ended windows.
	sweeps atomic.Uint64
	// history is --password-history (see KeepPasswordHistory).
	history atomic.Int32
}

var _ safereset.Store = (*DB)(nil)

// IsURL reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL, or a libpq key=value DSN) rather than a file path.
func IsURL(s string) bool {
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		return true
	}
	// A DSN starts with a keyword: "host=/run/postgresql dbname=x".
	key, _, ok := strings.Cut(strings.TrimSpace(s), "=")
	return ok && key != "" && strings.Trim(key, "abcdefghijklmnopqrstuvwxyz_") == ""
}

// Open connects to the database at url, checks that its schema is the one
// this build knows, and loads the outbox key. It does not migrate.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("postgres: the database URL does not parse")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{pool: pool, now: opts.Now}
	if err := db.checkSchema(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	key := opts.OutboxKey
	if key == nil {
		if key, err = db.SharedKey(ctx, "outbox", seal.NewKey); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if db.outbox, err = seal.New(key); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: outbox key: %w", err)
	}
	return db, nil
}

// SchemaVersion is the newest migration embedded in this build.
func SchemaVersion() int64 {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	var v int64
	for _, n := range names {
		num, _, _ := strings.Cut(path.Base(n), "_")
		if x, err := strconv.ParseInt(num, 10, 64); err == nil && x > v {
			v = x
		}
	}
	return v
}

// Migrate applies every embedded migration the database at url lacks and
// returns the versions applied. Replicas may run it at once: a PostgreSQL
// advisory lock lets one apply and the rest see nothing left to do. It
// returns an error wrapping ErrSchema when the database is newer.
func Migrate(ctx context.Context, url string) ([]int64, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New("postgres: the database URL does not parse")
	}
	sqlDB := stdlib.OpenDB(*cfg)
	defer sqlDB.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithSessionLocker(locker), goose.WithTableName(versionTable), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	v, err := dbVersion(ctx, conn)
	conn.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	if v > SchemaVersion() {
		return nil, fmt.Errorf("%w: the database has schema %d, newer than this build's %d; run a newer safereset", ErrSchema, v, SchemaVersion())
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	var applied []int64
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// rowQuerier is a pool, a connection or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// dbVersion returns the newest applied migration, 0 for a database
// safereset never migrated.
func dbVersion(ctx context.Context, q rowQuerier) (int64, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, versionTable).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+versionTable+` WHERE is_applied`).Scan(&v)
	return v, err
}

// checkSchema refuses a database whose schema is not SchemaVersion.
func (db *DB) checkSchema(ctx context.Context) error {
	v, err := dbVersion(ctx, db.pool)
	if err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	switch want := SchemaVersion(); {
	case v < want:
		return fmt.Errorf("%w: the database has schema %d, this build needs %d; run safereset migrate", ErrSchema, v, want)
	case v > want:
		return fmt.Errorf("%w: the database has schema %d, newer than this build's %d; run a newer safereset", ErrSchema, v, want)
	}
	return nil
}

// Ping reports whether the database answers; cheap enough for every
// readiness probe.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Backup refuses: a consistent copy of a PostgreSQL database is pg_dump's
// job, and pretending here would hand out a partial file.
func (db *DB) Backup(context.Context, io.Writer) (int64, error) {
	return 0, ErrBackupUnsupported
}

// BackupSupported reports false: the admin API tells the operator to use
// pg_dump.
func (db *DB) BackupSupported() bool { return false }

// Close closes every connection.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// inTx runs fn in one transaction and commits it, rolling back on error.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.pool, fn)
}

// ts truncates t to what timestamptz keeps, in UTC.
func ts(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// fromNull reads a nullable timestamptz back, NULL as the zero time.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
