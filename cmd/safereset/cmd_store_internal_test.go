package main

import (
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

// TestSameDump_SeesLocks: store copy's read-back check refuses a copy that
// lost a lock or a lock link, as it does for the other records.
func TestSameDump_SeesLocks(t *testing.T) {
	until := time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC)
	src := safereset.Dump{
		Users:      []safereset.User{{ID: 1, Email: "a@example.com", EmailKey: "a@example.com", PasswordHash: "$x", LockedUntil: until}},
		LockTokens: []safereset.LockToken{{Hash: [32]byte{1}, UserID: 1}},
	}
	copyOf := func(edit func(*safereset.Dump)) safereset.Dump {
		d := safereset.Dump{Users: append([]safereset.User(nil), src.Users...), LockTokens: append([]safereset.LockToken(nil), src.LockTokens...)}
		edit(&d)
		return d
	}
	// PostgreSQL keeps microseconds: the nanoseconds it drops are no difference.
	if err := sameDump(src, copyOf(func(d *safereset.Dump) { d.Users[0].LockedUntil = until.Truncate(time.Microsecond) })); err != nil {
		t.Fatalf("a lock read back to the microsecond: %v", err)
	}
	for name, c := range map[string]struct {
		edit func(*safereset.Dump)
		want string
	}{
		"lock lost":           {func(d *safereset.Dump) { d.Users[0].LockedUntil = time.Time{} }, "lock differs"},
		"lock moved":          {func(d *safereset.Dump) { d.Users[0].LockedUntil = until.Add(time.Second) }, "lock differs"},
		"lock link lost":      {func(d *safereset.Dump) { d.LockTokens = nil }, "lock tokens"},
		"lock link elsewhere": {func(d *safereset.Dump) { d.LockTokens[0].UserID = 2 }, "lock token differs"},
	} {
		if err := sameDump(src, copyOf(c.edit)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, c.want)
		}
	}
}
