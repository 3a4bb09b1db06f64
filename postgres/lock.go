package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
)

// storeLockTokenSQL stores a lock token for a user after dropping the
// user's expired ones and the oldest live ones beyond MaxLockTokens-1, as
// CTEs of one statement. Its placeholders: {user} the user ID, {now} the
// clock, then hash, created_at, expires_at and MaxLockTokens-1 from
// {first}. Every CTE sees the table as it was before the statement, so
// the new token is never among the evicted.
func storeLockTokenSQL(user, now string, first int) string {
	p := func(i int) string { return fmt.Sprintf("$%d", first+i) }
	return `lock_expired AS (
			DELETE FROM lock_tokens WHERE user_id = ` + user + ` AND expires_at <= ` + now + `
		), lock_evicted AS (
			DELETE FROM lock_tokens WHERE hash IN (
				SELECT hash FROM lock_tokens WHERE user_id = ` + user + ` AND expires_at > ` + now + `
				ORDER BY created_at DESC, hash DESC OFFSET ` + p(3) + `)
		), lock_token AS (
			INSERT INTO lock_tokens (hash, user_id, created_at, expires_at) VALUES (` + p(0) + `, ` + user + `, ` + p(1) + `, ` + p(2) + `)
		)`
}

// lockTokenCTE returns RequestReset's CTEs (with a trailing comma) and
// arguments storing tok.Lock for the user in $1 at the clock in $2, or
// nothing when tok carries no lock token.
func lockTokenCTE(tok safereset.ResetToken, first int) (string, []any) {
	if tok.Lock.Hash == [32]byte{} {
		return "", nil
	}
	return storeLockTokenSQL("$1", "$2", first) + `, `, lockTokenArgs(tok.Lock)
}

// lockTokenArgs are storeLockTokenSQL's arguments from first on.
func lockTokenArgs(lt safereset.LockToken) []any {
	return []any{lt.Hash[:], ts(lt.CreatedAt), ts(lt.ExpiresAt), safereset.MaxLockTokens - 1}
}

// AddLockToken stores lt for the user under the user's row lock, evicting
// as RequestReset does. CreatedAt defaults to the clock.
func (db *DB) AddLockToken(ctx context.Context, emailKey string, lt safereset.LockToken) error {
	if lt.ExpiresAt.IsZero() {
		return errors.New("postgres: add lock token: token has no expiry")
	}
	now := ts(db.now())
	if lt.CreatedAt.IsZero() {
		lt.CreatedAt = now
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		id, err := lockUser(ctx, tx, emailKey, safereset.ErrUserNotFound)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `WITH `+storeLockTokenSQL("$1", "$2", 3)+` SELECT 1`,
			append([]any{id, now}, lockTokenArgs(lt)...)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: add lock token: %w", err)
	}
	return nil
}

// CheckLockToken reports whether the lock token is valid for emailKey at
// now.
func (db *DB) CheckLockToken(ctx context.Context, emailKey string, hash [32]byte, now time.Time) error {
	if err := db.checkTokenIn(ctx, "lock_tokens", emailKey, hash, now); err != nil {
		return fmt.Errorf("postgres: check lock token: %w", err)
	}
	return nil
}

// LockAccount takes the user's row lock, then in one statement deletes
// the live lock token, every reset token of the user and moves
// locked_until to the later of the stored and the new time. Of concurrent
// calls with one token (on any replica) exactly one succeeds: the others
// wait for the row lock and then find the token gone.
func (db *DB) LockAccount(ctx context.Context, emailKey string, hash [32]byte, now, until time.Time, effects ...safereset.EffectsFunc) (safereset.User, error) {
	now, until = ts(now), ts(until)
	var u safereset.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		id, err := lockUser(ctx, tx, emailKey, safereset.ErrTokenInvalid)
		if err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRow(ctx, `WITH tok AS (
				DELETE FROM lock_tokens WHERE hash = $2 AND user_id = $1 AND expires_at > $3 RETURNING 1
			), del AS (
				DELETE FROM reset_tokens WHERE user_id = $1 AND EXISTS (SELECT 1 FROM tok)
			)
			UPDATE users SET locked_until = GREATEST(locked_until, $4)
			WHERE id = $1 AND EXISTS (SELECT 1 FROM tok)
			RETURNING `+userColumns, id, hash[:], now, until))
		if errors.Is(err, safereset.ErrUserNotFound) {
			// No live token of this user: tell an expired one apart.
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM lock_tokens WHERE hash = $1 AND user_id = $2`, hash[:], id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return safereset.ErrTokenExpired
			}
			return safereset.ErrTokenInvalid
		}
		if err != nil {
			return err
		}
		return db.writeUserEffects(ctx, tx, u, effects)
	})
	if err != nil {
		return safereset.User{}, fmt.Errorf("postgres: lock account: %w", err)
	}
	return u, nil
}

// UnlockAccount clears locked_until under the user's row lock. effects
// are written only when the account was locked at the store's clock:
// unlocking an account that is not locked records nothing (a lock that
// has run out is still cleared from the row).
func (db *DB) UnlockAccount(ctx context.Context, emailKey string, effects ...safereset.EffectsFunc) (safereset.User, error) {
	now := db.now()
	var u safereset.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = lockUserRow(ctx, tx, emailKey)
		if err != nil || u.LockedUntil.IsZero() {
			return err
		}
		wasLocked := u.Locked(now)
		if _, err := tx.Exec(ctx, `UPDATE users SET locked_until = NULL WHERE id = $1`, u.ID); err != nil {
			return err
		}
		u.LockedUntil = time.Time{}
		if !wasLocked {
			return nil
		}
		return db.writeUserEffects(ctx, tx, u, effects)
	})
	if err != nil {
		return safereset.User{}, fmt.Errorf("postgres: unlock account: %w", err)
	}
	return u, nil
}
