package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/postgres"
	"github.com/safereset/safereset/ratelimit"
	"github.com/safereset/safereset/store"
)

// engine is the store serve runs on: bbolt or PostgreSQL.
type engine interface {
	safereset.Store
	Ping(ctx context.Context) error
}

// openTimeout bounds connecting to PostgreSQL at start-up.
const openTimeout = 10 * time.Second

// openEngine opens the configured store: PostgreSQL when --database-url is
// set, else the bbolt file in the data directory.
func openEngine(c *serveConfig) (engine, error) {
	if c.databaseURL == "" {
		outboxKey, err := loadOutboxKey(c.dataDir)
		if err != nil {
			return nil, err
		}
		return store.Open(filepath.Join(c.dataDir, "safereset.db"), store.Options{Timeout: 2 * time.Second, OutboxKey: outboxKey})
	}
	// The outbox key is shared through the database, like the other keys.
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	db, err := postgres.Open(ctx, c.databaseURL, postgres.Options{})
	if errors.Is(err, postgres.ErrSchema) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("--database-url: %w", err)
	}
	return db, nil
}

// keyStore is an engine that keeps the secrets every replica shares.
type keyStore interface {
	SharedKey(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error)
}

// sharesKeys reports whether db keeps shared secrets (PostgreSQL mode).
func sharesKeys(db engine) bool {
	_, ok := db.(keyStore)
	return ok
}

// sharedKey returns the secret called name: from the database in
// PostgreSQL mode (size random bytes, created once by the first replica),
// else from fromFile (a key file in the data directory).
func sharedKey(db engine, name string, size int, fromFile func() ([]byte, error)) ([]byte, error) {
	ks, ok := db.(keyStore)
	if !ok {
		return fromFile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	return ks.SharedKey(ctx, name, func() ([]byte, error) {
		b := make([]byte, size)
		_, err := rand.Read(b)
		return b, err
	})
}

// limiterStore picks where the rate limits count: Redis when
// --ratelimit-url is set, the database in PostgreSQL mode (limits hold
// across replicas), else nil (ratelimit's memory store).
func limiterStore(c *serveConfig, s *service) (ratelimit.Store, error) {
	if c.ratelimitURL != "" {
		st, closer, err := ratelimit.NewRedisStore(c.ratelimitURL)
		if err != nil {
			return nil, fmt.Errorf("--ratelimit-url: %w", err)
		}
		s.closers = append(s.closers, closer.Close)
		if p, ok := st.(interface{ Ping(context.Context) error }); ok {
			s.limiterPing = p.Ping
		}
		return st, nil
	}
	if counter, ok := s.db.(ratelimit.Counter); ok {
		return ratelimit.NewCounterStore(counter), nil
	}
	return nil, nil
}
