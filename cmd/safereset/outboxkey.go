package main

import (
	"fmt"
	"path/filepath"

	"github.com/safereset/safereset/internal/seal"
	"github.com/safereset/safereset/internal/secretfile"
)

// outboxKeyFile is the key that seals the message of every outbox entry,
// kept beside the database and never in it, so that the database file and
// its backups hold no token in readable form.
const outboxKeyFile = "outbox.key"

// loadOutboxKey returns the outbox sealing key of dataDir, creating it on
// first start.
func loadOutboxKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, outboxKeyFile)
	k, err := secretfile.LoadOrCreate(path, seal.NewKey)
	if err != nil {
		return nil, fmt.Errorf("outbox key: %w", err)
	}
	if len(k) != seal.KeySize {
		return nil, fmt.Errorf("outbox key: %s holds %d bytes, want %d; restore it from the backup it belongs to, or delete it (queued mail is then dropped)", path, len(k), seal.KeySize)
	}
	return k, nil
}
