package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safereset/safereset"
	bolt "go.etcd.io/bbolt"
)

// apiKeyRecord is an APIKey as stored: safereset.APIKey hides its hash from
// JSON so it never reaches an API response, but the store must keep it.
type apiKeyRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hash      [32]byte  `json:"hash"`
	CreatedAt time.Time `json:"createdAt"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

func (r apiKeyRecord) key() safereset.APIKey {
	return safereset.APIKey{ID: r.ID, Name: r.Name, Hash: r.Hash, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}
}

// CreateAPIKey stores k. It returns an error wrapping ErrAPIKeyExists when
// a key with the same ID or hash is stored. CreatedAt defaults to the clock.
func (db *DB) CreateAPIKey(ctx context.Context, k safereset.APIKey, effects ...safereset.Effects) error {
	if strings.TrimSpace(k.ID) == "" {
		return errors.New("store: create api key: empty id")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = db.now()
	}
	rec := apiKeyRecord{ID: k.ID, Name: k.Name, Hash: k.Hash, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		keys, byHash := tx.Bucket([]byte(bucketAPIKeys)), tx.Bucket([]byte(bucketAPIKeyHashes))
		if keys.Get([]byte(k.ID)) != nil || byHash.Get(k.Hash[:]) != nil {
			return ErrAPIKeyExists
		}
		if err := putJSON(keys, []byte(k.ID), rec); err != nil {
			return err
		}
		if err := byHash.Put(k.Hash[:], []byte(k.ID)); err != nil {
			return err
		}
		return db.writeAll(tx, effects)
	})
	if err != nil {
		return fmt.Errorf("store: create api key: %w", err)
	}
	return nil
}

// APIKeyByHash returns the key whose SHA-256 is hash, revoked or not, or
// safereset.ErrAPIKeyNotFound. The caller decides what a revoked key means.
func (db *DB) APIKeyByHash(ctx context.Context, hash [32]byte) (safereset.APIKey, error) {
	var k safereset.APIKey
	err := db.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket([]byte(bucketAPIKeyHashes)).Get(hash[:])
		if id == nil {
			return safereset.ErrAPIKeyNotFound
		}
		raw := tx.Bucket([]byte(bucketAPIKeys)).Get(id)
		if raw == nil {
			return fmt.Errorf("api key hash index is inconsistent")
		}
		if m, ok := db.apiKeys.get(id, raw); ok {
			k = m
		} else {
			var rec apiKeyRecord
			if err := jsonUnmarshal(raw, &rec); err != nil {
				return err
			}
			k = rec.key()
			db.apiKeys.put(id, raw, k)
		}
		if k.Hash != hash {
			return fmt.Errorf("api key hash index is inconsistent")
		}
		return nil
	})
	if err != nil {
		return safereset.APIKey{}, fmt.Errorf("store: api key by hash: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, by CreatedAt then
// ID.
func (db *DB) ListAPIKeys(ctx context.Context) ([]safereset.APIKey, error) {
	var out []safereset.APIKey
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketAPIKeys)).ForEach(func(_, v []byte) error {
			var rec apiKeyRecord
			if err := jsonUnmarshal(v, &rec); err != nil {
				return err
			}
			out = append(out, rec.key())
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list api keys: %w", err)
	}
	slices.SortFunc(out, func(a, b safereset.APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RevokeAPIKey sets the key's RevokedAt to at. Revoking a revoked key keeps
// the first revocation time and writes no effects; a zero at means now. It returns safereset.ErrAPIKeyNotFound for an
// unknown ID.
func (db *DB) RevokeAPIKey(ctx context.Context, id string, at time.Time, effects ...safereset.Effects) error {
	if at.IsZero() {
		at = db.now()
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		keys := tx.Bucket([]byte(bucketAPIKeys))
		var rec apiKeyRecord
		ok, err := getJSON(keys, []byte(id), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return safereset.ErrAPIKeyNotFound
		}
		if !rec.RevokedAt.IsZero() {
			return nil // nothing changes, so nothing is recorded
		}
		rec.RevokedAt = at
		if err := putJSON(keys, []byte(id), rec); err != nil {
			return err
		}
		return db.writeAll(tx, effects)
	})
	if err != nil {
		return fmt.Errorf("store: revoke api key: %w", err)
	}
	return nil
}
