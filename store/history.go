package store

import "github.com/safereset/safereset"

var _ safereset.PasswordHistoryKeeper = (*DB)(nil)

// KeepPasswordHistory implements safereset.PasswordHistoryKeeper: n is
// clamped to 0..safereset.MaxPasswordHistory.
func (db *DB) KeepPasswordHistory(n int) {
	db.history.Store(int32(safereset.ClampPasswordHistory(n)))
}
