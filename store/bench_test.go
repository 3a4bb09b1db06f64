package store_test

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/store"
)

// benchToken returns a distinct token hash per iteration.
func benchToken(i int) safereset.ResetToken {
	var h [32]byte
	binary.BigEndian.PutUint64(h[:], uint64(i)+1)
	return safereset.ResetToken{Hash: h, ExpiresAt: t0.Add(time.Hour)}
}

// openBench opens a real file with the given sync setting.
func openBench(b *testing.B, noSync bool) *store.DB {
	b.Helper()
	clk := &clock{t: t0}
	return mustOpenPath(b, filepath.Join(b.TempDir(), "safereset.db"), store.Options{Now: clk.Now, NoSync: noSync})
}

// BenchmarkRequestReset measures one RequestReset (one fsync'd commit) for
// a known and an unknown address; the two should cost about the same. The
// outbox is drained between iterations (untimed), as the mail worker would,
// so the file does not grow without bound.
func BenchmarkRequestReset(b *testing.B) {
	for _, bc := range []struct {
		name   string
		email  string
		noSync bool
	}{
		{"Known", "alice@example.com", false},
		{"Unknown", "nobody@example.com", false},
		{"Known/NoSync", "alice@example.com", true},
		{"Unknown/NoSync", "nobody@example.com", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			db := openBench(b, bc.noSync)
			mustCreateUser(b, db, "alice@example.com")
			compose := composeToken("0123456789abcdef0123456789abcdef")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.RequestReset(ctx, bc.email, benchToken(i), 3, compose); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				drain(b, db)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkResetPassword measures one successful ResetPassword; issuing the
// token each iteration is not timed.
func BenchmarkResetPassword(b *testing.B) {
	for _, bc := range []struct {
		name   string
		noSync bool
	}{{"Sync", false}, {"NoSync", true}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			db := openBench(b, bc.noSync)
			mustCreateUser(b, db, "alice@example.com")
			compose := composeToken("0123456789abcdef0123456789abcdef")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tok := benchToken(i)
				if _, err := db.RequestReset(ctx, "alice@example.com", tok, 3, compose); err != nil {
					b.Fatal(err)
				}
				drain(b, db)
				b.StartTimer()
				if _, err := db.ResetPassword(ctx, "alice@example.com", tok.Hash, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// drain deletes every queued mail.
func drain(b *testing.B, db *store.DB) {
	ctx := context.Background()
	due, err := db.DueMail(ctx, t0.Add(time.Hour), 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range due {
		if err := db.DeleteMail(ctx, e.ID, e.Claim); err != nil {
			b.Fatal(err)
		}
	}
}
