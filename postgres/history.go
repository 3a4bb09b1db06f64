package postgres

import "github.com/safereset/safereset"

var _ safereset.PasswordHistoryKeeper = (*DB)(nil)

// KeepPasswordHistory implements safereset.PasswordHistoryKeeper: n is
// clamped to 0..safereset.MaxPasswordHistory.
func (db *DB) KeepPasswordHistory(n int) {
	db.history.Store(int32(safereset.ClampPasswordHistory(n)))
}

// historyParam is h as a text[] parameter: a nil slice would be NULL,
// which the NOT NULL column refuses.
func historyParam(h []string) []string {
	if h == nil {
		return []string{}
	}
	return h
}
