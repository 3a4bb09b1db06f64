package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/safereset/safereset"
)

// errEmptyHash is returned when a caller would store an empty password hash.
var errEmptyHash = errors.New("postgres: empty password hash")

const userColumns = `id, email, email_key, password_hash, created_at, password_changed_at, locale, password_history, locked_until`

// CreateUser stores u under a new ID (see store.DB.CreateUser). It returns
// an error wrapping safereset.ErrUserExists when the email key is taken.
func (db *DB) CreateUser(ctx context.Context, u safereset.User, effects ...safereset.EffectsFunc) (safereset.User, error) {
	if u.EmailKey == "" {
		u.EmailKey = safereset.NormalizeEmail(u.Email)
	}
	if u.EmailKey == "" {
		return safereset.User{}, fmt.Errorf("postgres: create user: empty email address")
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = db.now()
	}
	u.CreatedAt, u.PasswordChangedAt, u.LockedUntil = ts(u.CreatedAt), zeroOrTS(u.PasswordChangedAt), zeroOrTS(u.LockedUntil)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users (email, email_key, password_hash, created_at, password_changed_at, locale, locked_until)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			u.Email, u.EmailKey, u.PasswordHash, u.CreatedAt, nullTime(u.PasswordChangedAt), u.Locale, nullTime(u.LockedUntil)).Scan(&u.ID)
		if err != nil {
			return err
		}
		return db.writeUserEffects(ctx, tx, u, effects)
	})
	if isUniqueViolation(err) {
		err = safereset.ErrUserExists
	}
	if err != nil {
		return safereset.User{}, fmt.Errorf("postgres: create user: %w", err)
	}
	return u, nil
}

// UserByEmail returns the user with the email key, or an error wrapping
// safereset.ErrUserNotFound.
func (db *DB) UserByEmail(ctx context.Context, emailKey string) (safereset.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = $1`, emailKey))
	if err != nil {
		return safereset.User{}, fmt.Errorf("postgres: user by email: %w", err)
	}
	return u, nil
}

// SetPasswordHash replaces the user's hash and sets PasswordChangedAt.
func (db *DB) SetPasswordHash(ctx context.Context, emailKey, phc string, at time.Time) error {
	if phc == "" {
		return errEmptyHash
	}
	tag, err := db.pool.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE email_key = $1`,
		emailKey, phc, nullTime(at))
	if err == nil && tag.RowsAffected() == 0 {
		err = safereset.ErrUserNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: set password hash: %w", err)
	}
	return nil
}

// DeleteUser removes the user and every reset and lock token of theirs.
func (db *DB) DeleteUser(ctx context.Context, emailKey string, effects ...safereset.EffectsFunc) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		u, err := lockUserRow(ctx, tx, emailKey)
		if err != nil {
			return err
		}
		// The reset and lock tokens go with the user (ON DELETE CASCADE),
		// after its row lock.
		if _, err = tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
			return err
		}
		return db.writeUserEffects(ctx, tx, u, effects)
	})
	if err != nil {
		return fmt.Errorf("postgres: delete user: %w", err)
	}
	return nil
}

// CountUsers returns the number of users.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count users: %w", err)
	}
	return n, nil
}

// lockUser locks the user's row for the rest of tx and returns its ID, or
// missing when no user has the key (each caller answers an unknown
// address with its own error). It is the first statement of every
// transaction that touches a user's tokens.
func lockUser(ctx context.Context, tx pgx.Tx, emailKey string, missing error) (uint64, error) {
	var id uint64
	err := tx.QueryRow(ctx, `SELECT id FROM users WHERE email_key = $1 FOR UPDATE`, emailKey).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, missing
	}
	return id, err
}

// lockUserRow is lockUser for a transaction that needs the whole user: it
// returns an error wrapping safereset.ErrUserNotFound when no user has the
// key.
func lockUserRow(ctx context.Context, tx pgx.Tx, emailKey string) (safereset.User, error) {
	return scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = $1 FOR UPDATE`, emailKey))
}

func scanUser(row pgx.Row) (safereset.User, error) {
	var (
		u       safereset.User
		changed *time.Time
		locked  *time.Time
	)
	err := row.Scan(&u.ID, &u.Email, &u.EmailKey, &u.PasswordHash, &u.CreatedAt, &changed, &u.Locale, &u.PasswordHistory, &locked)
	if errors.Is(err, pgx.ErrNoRows) {
		return safereset.User{}, safereset.ErrUserNotFound
	}
	if err != nil {
		return safereset.User{}, err
	}
	u.CreatedAt, u.PasswordChangedAt, u.LockedUntil = u.CreatedAt.UTC(), fromNull(changed), fromNull(locked)
	if len(u.PasswordHistory) == 0 {
		u.PasswordHistory = nil
	}
	return u, nil
}

func zeroOrTS(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return ts(t)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
