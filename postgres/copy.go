package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
)

// ErrNotEmpty is returned by Import into a database that holds data.
var ErrNotEmpty = errors.New("target database is not empty")

// Export reads everything in one REPEATABLE READ transaction (a consistent
// view). Outbox claims are dropped: the copy is taken offline. Lock
// tokens expired at the clock are left behind.
func (db *DB) Export(ctx context.Context) (safereset.Dump, error) {
	var d safereset.Dump
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
		var err error
		if d.Users, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (safereset.User, error) { return scanUser(r) }); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT hash, user_id, created_at, expires_at FROM reset_tokens ORDER BY created_at, seq`)
		if d.Tokens, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (safereset.ResetToken, error) {
			t, err := scanTokenRow(r)
			return safereset.ResetToken{Hash: t.Hash, UserID: t.UserID, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}, err
		}); err != nil {
			return err
		}
		// Only live lock tokens are carried: an expired one can never lock.
		rows, _ = tx.Query(ctx, `SELECT hash, user_id, created_at, expires_at FROM lock_tokens WHERE expires_at > $1 ORDER BY created_at, hash`, ts(db.now()))
		if d.LockTokens, err = pgx.CollectRows(rows, scanTokenRow); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT id, name, hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id`)
		if d.APIKeys, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (safereset.APIKey, error) { return scanAPIKey(r) }); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT id, kind, message, created_at, not_after, attempts, next_attempt, last_error, 0, webhook FROM outbox ORDER BY id`)
		if d.Outbox, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (safereset.OutboxEntry, error) { return db.scanEntry(r) }); err != nil {
			return err
		}
		d.Audit, err = exportAudit(ctx, tx)
		return err
	})
	if err != nil {
		return safereset.Dump{}, fmt.Errorf("postgres: export: %w", err)
	}
	return d, nil
}

// scanTokenRow reads the columns reset_tokens and lock_tokens share (hash,
// user_id, created_at, expires_at); a LockToken holds exactly those.
func scanTokenRow(r pgx.CollectableRow) (safereset.LockToken, error) {
	var (
		t    safereset.LockToken
		hash []byte
	)
	if err := r.Scan(&hash, &t.UserID, &t.CreatedAt, &t.ExpiresAt); err != nil {
		return safereset.LockToken{}, err
	}
	t.Hash = [32]byte(hash)
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), t.ExpiresAt.UTC()
	return t, nil
}

// Import writes d into an empty database in one transaction, keeping every
// ID, and refuses (ErrNotEmpty) a database that holds any user, token, API
// key or queued mail.
func (db *DB) Import(ctx context.Context, d safereset.Dump) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// Keep replicas that might start meanwhile out until the copy
		// has committed.
		if _, err := tx.Exec(ctx, `LOCK TABLE users, reset_tokens, api_keys, outbox, lock_tokens IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM reset_tokens)
			OR EXISTS (SELECT 1 FROM api_keys) OR EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM lock_tokens)`).Scan(&used); err != nil {
			return err
		}
		if used {
			return ErrNotEmpty
		}
		b := &pgx.Batch{}
		for _, u := range d.Users {
			b.Queue(`INSERT INTO users (id, email, email_key, password_hash, created_at, password_changed_at, locale, password_history, locked_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				int64(u.ID), u.Email, u.EmailKey, u.PasswordHash, ts(u.CreatedAt), nullTime(u.PasswordChangedAt), u.Locale, historyParam(u.PasswordHistory), nullTime(u.LockedUntil))
		}
		toks := slices.Clone(d.Tokens)
		slices.SortStableFunc(toks, func(a, b safereset.ResetToken) int { return a.CreatedAt.Compare(b.CreatedAt) })
		for _, t := range toks {
			b.Queue(`INSERT INTO reset_tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
				t.Hash[:], int64(t.UserID), ts(t.CreatedAt), ts(t.ExpiresAt))
		}
		for _, t := range d.LockTokens {
			b.Queue(`INSERT INTO lock_tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
				t.Hash[:], int64(t.UserID), ts(t.CreatedAt), ts(t.ExpiresAt))
		}
		for _, k := range d.APIKeys {
			b.Queue(`INSERT INTO api_keys (id, name, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)`,
				k.ID, k.Name, k.Hash[:], ts(k.CreatedAt), nullTime(k.RevokedAt))
		}
		for _, e := range d.Outbox {
			sealed, err := db.sealMessage(e.Message)
			if err != nil {
				return err
			}
			kind, hook, err := db.copiedWebhook(e)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO outbox (id, kind, message, created_at, not_after, attempts, next_attempt, last_error, webhook) VALUES ($1, $8, $2, $3, $4, $5, $6, $7, $9)`,
				int64(e.ID), sealed, ts(e.CreatedAt), nullTime(e.NotAfter), e.Attempts, ts(e.NextAttempt), e.LastError, kind, hook)
		}
		// New rows continue after the copied IDs.
		b.Queue(`SELECT setval(pg_get_serial_sequence('users', 'id'), coalesce((SELECT max(id) FROM users), 0) + 1, false)`)
		b.Queue(`SELECT setval(pg_get_serial_sequence('outbox', 'id'), coalesce((SELECT max(id) FROM outbox), 0) + 1, false)`)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		return importAudit(ctx, tx, d.Audit)
	})
	if err != nil {
		return fmt.Errorf("postgres: import: %w", err)
	}
	return nil
}

// SetSharedKey stores a shared secret copied from elsewhere; it refuses to
// replace a different one already stored.
func (db *DB) SetSharedKey(ctx context.Context, name string, value []byte) error {
	got, err := db.SharedKey(ctx, name, func() ([]byte, error) { return value, nil })
	if err != nil {
		return err
	}
	if string(got) != string(value) {
		return fmt.Errorf("postgres: the database already holds a different %s key: %w", name, ErrNotEmpty)
	}
	return nil
}
