package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
)

// ErrAPIKeyExists is returned by CreateAPIKey when the key's ID or hash is
// already stored.
var ErrAPIKeyExists = safereset.ErrAPIKeyExists

// CreateAPIKey stores k; CreatedAt defaults to the clock.
func (db *DB) CreateAPIKey(ctx context.Context, k safereset.APIKey, effects ...safereset.Effects) error {
	if strings.TrimSpace(k.ID) == "" {
		return errors.New("postgres: create api key: empty id")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.now()
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO api_keys (id, name, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5)`,
			k.ID, k.Name, k.Hash[:], ts(k.CreatedAt), nullTime(k.RevokedAt)); err != nil {
			return err
		}
		return db.writeEffects(ctx, tx, joinEffects(effects))
	})
	if isUniqueViolation(err) {
		err = ErrAPIKeyExists
	}
	if err != nil {
		return fmt.Errorf("postgres: create api key: %w", err)
	}
	return nil
}

// APIKeyByHash returns the key with the SHA-256 hash, or an error wrapping
// safereset.ErrAPIKeyNotFound.
func (db *DB) APIKeyByHash(ctx context.Context, hash [32]byte) (safereset.APIKey, error) {
	k, err := scanAPIKey(db.pool.QueryRow(ctx, `SELECT id, name, hash, created_at, revoked_at FROM api_keys WHERE hash = $1`, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		err = safereset.ErrAPIKeyNotFound
	}
	if err != nil {
		return safereset.APIKey{}, fmt.Errorf("postgres: api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first (ties by ID).
func (db *DB) ListAPIKeys(ctx context.Context) ([]safereset.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, name, hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list api keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (safereset.APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey marks the key revoked at at (the clock if zero); revoking a
// revoked key keeps the first time and writes no effects.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time, effects ...safereset.Effects) error {
	if at.IsZero() {
		at = db.now()
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var was *time.Time
		err := tx.QueryRow(ctx, `SELECT revoked_at FROM api_keys WHERE id = $1 FOR UPDATE`, id).Scan(&was)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return safereset.ErrAPIKeyNotFound
		case err != nil:
			return err
		case was != nil:
			return nil // nothing changes, so nothing is recorded
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1`, id, ts(at)); err != nil {
			return err
		}
		return db.writeEffects(ctx, tx, joinEffects(effects))
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke api key: %w", err)
	}
	return nil
}

func scanAPIKey(row pgx.Row) (safereset.APIKey, error) {
	var (
		k       safereset.APIKey
		hash    []byte
		revoked *time.Time
	)
	if err := row.Scan(&k.ID, &k.Name, &hash, &k.CreatedAt, &revoked); err != nil {
		return k, err
	}
	if len(hash) != 32 {
		return k, fmt.Errorf("api key %q has a %d-byte hash", k.ID, len(hash))
	}
	k.Hash = [32]byte(hash)
	k.CreatedAt, k.RevokedAt = k.CreatedAt.UTC(), fromNull(revoked)
	return k, nil
}
