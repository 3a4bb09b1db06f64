package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
)

// RequestReset stores a token (and its lock token, when tok.Lock is set)
// and queues its mail for a known address, or does the same work for an
// unknown one or one locked at tok.CreatedAt (see decoyRequest). Both take the
// same four round trips: BEGIN, the user lookup, one write, COMMIT.
func (db *DB) RequestReset(ctx context.Context, emailKey string, tok safereset.ResetToken, maxOutstanding int,
	compose func(safereset.User) (safereset.Message, time.Time, error), effects ...safereset.EffectsFunc) (bool, error) {
	if tok.ExpiresAt.IsZero() {
		return false, errors.New("postgres: request reset: token has no expiry")
	}
	maxOutstanding = max(maxOutstanding, 1)
	now := ts(db.now())
	if tok.CreatedAt.IsZero() {
		tok.CreatedAt = now
	}
	if tok.Lock.Hash != [32]byte{} {
		if tok.Lock.ExpiresAt.IsZero() {
			return false, errors.New("postgres: request reset: lock token has no expiry")
		}
		if tok.Lock.CreatedAt.IsZero() {
			tok.Lock.CreatedAt = tok.CreatedAt
		}
	}
	found := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		found = false
		u, err := lockUserRow(ctx, tx, emailKey)
		if err == nil && u.Locked(tok.CreatedAt) {
			// A locked account ("this wasn't me") answers and costs
			// exactly what an unknown address does.
			err = safereset.ErrUserNotFound
		}
		if errors.Is(err, safereset.ErrUserNotFound) {
			return db.decoyRequest(ctx, tx, emailKey, tok, now, maxOutstanding, compose, effects)
		}
		if err != nil {
			return err
		}
		found = true
		msg, notAfter, err := compose(u)
		if err != nil {
			return fmt.Errorf("compose mail: %w", err)
		}
		sealed, err := db.sealMessage(msg)
		if err != nil {
			return err
		}
		e, err := renderEffects(u, effects)
		if err != nil {
			return err
		}
		lockCTE, lockArgs := lockTokenCTE(tok, 10)
		ctes, args, err := db.effectsCTEs(e, 10+len(lockArgs))
		if err != nil {
			return err
		}
		// One statement: drop the user's expired tokens, evict the oldest
		// live ones beyond maxOutstanding-1, store the new token and
		// queue its mail.
		_, err = tx.Exec(ctx, `WITH expired AS (
				DELETE FROM reset_tokens WHERE user_id = $1 AND expires_at <= $2
			), evicted AS (
				DELETE FROM reset_tokens WHERE hash IN (
					SELECT hash FROM reset_tokens WHERE user_id = $1 AND expires_at > $2
					ORDER BY created_at DESC, seq DESC OFFSET $3)
			), token AS (
				INSERT INTO reset_tokens (hash, user_id, created_at, expires_at) VALUES ($4, $1, $5, $6)
			), `+lockCTE+ctes+`
			INSERT INTO outbox (kind, message, created_at, not_after, next_attempt) VALUES ($9, $7, $2, $8, $2)`,
			slices.Concat([]any{u.ID, now, maxOutstanding - 1, tok.Hash[:], ts(tok.CreatedAt), ts(tok.ExpiresAt), sealed, nullTime(notAfter), string(msg.Kind)}, lockArgs, args)...)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: request reset: %w", err)
	}
	return found, nil
}

// CheckToken reports whether the token is valid for emailKey at now.
func (db *DB) CheckToken(ctx context.Context, emailKey string, tokenHash [32]byte, now time.Time) error {
	err := db.checkTokenIn(ctx, "reset_tokens", emailKey, tokenHash, now)
	if err != nil && !safereset.IsTokenRefusal(err) {
		return fmt.Errorf("postgres: check token: %w", err)
	}
	return err
}

// checkTokenIn reports whether the token with hash in table (reset_tokens
// or lock_tokens, which share their hash, user_id and expires_at columns)
// belongs to emailKey and is live at now.
func (db *DB) checkTokenIn(ctx context.Context, table, emailKey string, hash [32]byte, now time.Time) error {
	var expires time.Time
	err := db.pool.QueryRow(ctx, `SELECT t.expires_at FROM `+table+` t JOIN users u ON u.id = t.user_id
		WHERE t.hash = $1 AND u.email_key = $2`, hash[:], emailKey).Scan(&expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return safereset.ErrTokenInvalid
	}
	if err == nil && !ts(now).Before(expires) {
		return safereset.ErrTokenExpired
	}
	return err
}

// ResetPassword checks the token under the user's row lock and, in the
// same transaction, stores the new hash and deletes every token of the
// user. Of concurrent resets with one token (on any replica) exactly one
// succeeds: the others wait for the lock and then find the token gone.
func (db *DB) ResetPassword(ctx context.Context, emailKey string, tokenHash [32]byte, newHash string, now time.Time, effects ...safereset.EffectsFunc) (safereset.User, error) {
	if newHash == "" {
		return safereset.User{}, errEmptyHash
	}
	now = ts(now)
	var u safereset.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		id, err := lockUser(ctx, tx, emailKey, safereset.ErrTokenInvalid)
		if err != nil {
			return err
		}
		// A new statement after the lock: it sees every commit made
		// before the lock was granted. The update and delete happen only
		// for a live token. The replaced hash is pushed onto the history
		// and the array sliced to $5 (N-1) elements in the same UPDATE;
		// [1:0] is the empty array.
		var expires *time.Time
		row := tx.QueryRow(ctx, `WITH tok AS (
				SELECT expires_at FROM reset_tokens WHERE hash = $2 AND user_id = $1
			), upd AS (
				UPDATE users SET password_hash = $3, password_changed_at = $4,
					password_history = (ARRAY[users.password_hash] || users.password_history)[1:$5::int]
				WHERE id = $1 AND EXISTS (SELECT 1 FROM tok WHERE expires_at > $4)
				RETURNING `+userColumns+`
			), del AS (
				DELETE FROM reset_tokens WHERE user_id = $1 AND EXISTS (SELECT 1 FROM upd)
			)
			SELECT (SELECT expires_at FROM tok), upd.* FROM (SELECT 1) one LEFT JOIN upd ON true`,
			id, tokenHash[:], newHash, now, max(int(db.history.Load())-1, 0))
		var (
			uid              *uint64
			email, key, hash *string
			created, changed *time.Time
			locale           *string
			history          []string
			locked           *time.Time
		)
		if err := row.Scan(&expires, &uid, &email, &key, &hash, &created, &changed, &locale, &history, &locked); err != nil {
			return err
		}
		switch {
		case expires == nil:
			return safereset.ErrTokenInvalid
		case uid == nil:
			return safereset.ErrTokenExpired
		}
		u = safereset.User{ID: *uid, Email: *email, EmailKey: *key, PasswordHash: *hash, CreatedAt: created.UTC(), PasswordChangedAt: fromNull(changed), Locale: *locale, LockedUntil: fromNull(locked)}
		if len(history) > 0 {
			u.PasswordHistory = history
		}
		return db.writeUserEffects(ctx, tx, u, effects)
	})
	if err != nil {
		return safereset.User{}, fmt.Errorf("postgres: reset password: %w", err)
	}
	return u, nil
}
