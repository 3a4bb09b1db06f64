package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SharedKey returns the secret called name that every replica shares,
// creating it with create when no replica has yet. Replicas starting at
// once agree: each inserts its candidate unless one exists, then all read
// the one that won.
func (db *DB) SharedKey(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	var key []byte
	err := db.pool.QueryRow(ctx, `SELECT value FROM shared_keys WHERE name = $1`, name).Scan(&key)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: read %s key: %w", name, err)
	}
	candidate, err := create()
	if err != nil {
		return nil, fmt.Errorf("postgres: create %s key: %w", name, err)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO shared_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, candidate); err != nil {
		return nil, fmt.Errorf("postgres: store %s key: %w", name, err)
	}
	if err := db.pool.QueryRow(ctx, `SELECT value FROM shared_keys WHERE name = $1`, name).Scan(&key); err != nil {
		return nil, fmt.Errorf("postgres: read %s key: %w", name, err)
	}
	return key, nil
}
