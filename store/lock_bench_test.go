package store_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/store/storetest"
)

// BenchmarkRequestResetWithLock is BenchmarkRequestReset for requests that
// carry a lock token, as the token mail's "this wasn't me" link does, for
// a known, an unknown and a locked address; all three should cost about
// the same (a locked one takes the unknown path).
func BenchmarkRequestResetWithLock(b *testing.B) {
	for _, bc := range []struct {
		name   string
		email  string
		noSync bool
	}{
		{"Known", "alice@example.com", false},
		{"Unknown", "nobody@example.com", false},
		{"Locked", "locked@example.com", false},
		{"Known/NoSync", "alice@example.com", true},
		{"Unknown/NoSync", "nobody@example.com", true},
		{"Locked/NoSync", "locked@example.com", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			db := openBench(b, bc.noSync)
			mustCreateUser(b, db, "alice@example.com")
			mustCreateUser(b, db, "locked@example.com")
			lock := sha256.Sum256([]byte("lock"))
			if err := db.AddLockToken(ctx, "locked@example.com", safereset.LockToken{Hash: lock, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			if _, err := db.LockAccount(ctx, "locked@example.com", lock, t0, t0.Add(24*time.Hour)); err != nil {
				b.Fatal(err)
			}
			compose := storetest.ComposeToken("0123456789abcdef0123456789abcdef")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tok := benchToken(i)
				tok.Lock = safereset.LockToken{Hash: sha256.Sum256(tok.Hash[:]), ExpiresAt: t0.Add(7 * 24 * time.Hour)}
				if _, err := db.RequestReset(ctx, bc.email, tok, 3, compose); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				drain(b, db)
				b.StartTimer()
			}
		})
	}
}
