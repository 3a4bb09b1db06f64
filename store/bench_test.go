package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/store/storetest"
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
	clk := testclock.New(t0)
	return mustOpenPath(b, filepath.Join(b.TempDir(), "safereset.db"), store.Options{Now: clk.Now, NoSync: noSync})
}

// BenchmarkRequestReset measures one RequestReset (one fsync'd commit) for
// a known and an unknown address; the two should cost about the same. The
// outbox is drained between iterations (untimed), as the mail worker would,
// so the file does not grow without bound.
func BenchmarkRequestReset(b *testing.B) {
	for _, bc := range []struct {
		name    string
		email   string
		noSync  bool
		effects bool
	}{
		{"Known", "alice@example.com", false, false},
		{"Unknown", "nobody@example.com", false, false},
		{"Known/NoSync", "alice@example.com", true, false},
		{"Unknown/NoSync", "nobody@example.com", true, false},
		// With the audit line and one webhook delivery written in the
		// same transaction, as serve does with one --webhook-url.
		{"Known/Effects", "alice@example.com", false, true},
		{"Unknown/Effects", "nobody@example.com", false, true},
		{"Known/Effects/NoSync", "alice@example.com", true, true},
		{"Unknown/Effects/NoSync", "nobody@example.com", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			db := openBench(b, bc.noSync)
			mustCreateUser(b, db, "alice@example.com")
			compose := storetest.ComposeToken("0123456789abcdef0123456789abcdef")
			var effects []safereset.EffectsFunc
			if bc.effects {
				effects = append(effects, benchEffects)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.RequestReset(ctx, bc.email, benchToken(i), 3, compose, effects...); err != nil {
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
			compose := storetest.ComposeToken("0123456789abcdef0123456789abcdef")
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

// BenchmarkRequestReset_Concurrent measures RequestReset from 64
// concurrent callers on a synced file, half of them for a known address,
// as a flood of POSTs does: with group commit, calls that arrive during a
// commit share the next fsync, so ns/op (wall time per call) falls far
// below one fsync. commits/op is how many write transactions a call cost.
//
//	go test ./store -run '^$' -bench RequestReset_Concurrent -benchtime 5000x -count 3
func BenchmarkRequestReset_Concurrent(b *testing.B) {
	ctx := context.Background()
	db := openBench(b, false)
	mustCreateUser(b, db, "alice@example.com")
	compose := storetest.ComposeToken("0123456789abcdef0123456789abcdef")
	var seq atomic.Int64
	before := store.TxID(b, db)
	b.SetParallelism(32) // 32 × GOMAXPROCS(2) = 64 callers on the test machine
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(seq.Add(1))
			email := "nobody@example.com"
			if i%2 == 0 {
				email = "alice@example.com"
			}
			if _, err := db.RequestReset(ctx, email, benchToken(i), 3, compose); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(store.TxID(b, db)-before)/float64(b.N), "commits/op")
}

// benchEffects is what a token request for a known address records with
// one webhook receiver configured.
func benchEffects(u safereset.User) (safereset.Effects, error) {
	body := []byte(`{"type":"password.reset_requested","timestamp":"2026-12-01T12:00:00Z","data":{"userId":1,"emailAddress":"alice@example.com","client":"apikey:shop","requestId":"0123456789abcdef"}}`)
	return safereset.Effects{
		Audit: []safereset.AuditEntry{{Action: safereset.AuditTokenRequested, Actor: "apikey:shop", RequestID: "0123456789abcdef", ClientAddr: "203.0.113.0/24"}},
		Outbox: []safereset.OutboxEntry{{NotAfter: t0.Add(72 * time.Hour), Webhook: &safereset.WebhookDelivery{
			ID: "msg_0123456789abcdef0123456789abcdef", URL: "https://app.example/hooks", Type: safereset.EventResetRequested, Body: body}}},
	}, nil
}

// BenchmarkCheckToken is the store's part of refusing a guess: a wrong
// token for a known address whose record carries a full password history
// (the largest user record there is), for a known address's live token,
// and for an unknown address. A check reads two index entries and the
// fixed-size token record; it never decodes the user's JSON record.
//
//	go test ./store -run '^$' -bench CheckToken -benchmem -count 6
func BenchmarkCheckToken(b *testing.B) {
	ctx := context.Background()
	db := openBench(b, true)
	db.KeepPasswordHistory(safereset.MaxPasswordHistory)
	mustCreateUser(b, db, "alice@example.com")
	compose := storetest.ComposeToken("0123456789abcdef0123456789abcdef")
	var live safereset.ResetToken
	for i := range safereset.MaxPasswordHistory {
		live = benchToken(i)
		if _, err := db.RequestReset(ctx, "alice@example.com", live, 3, compose); err != nil {
			b.Fatal(err)
		}
		if _, err := db.ResetPassword(ctx, "alice@example.com", live.Hash, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", t0); err != nil {
			b.Fatal(err)
		}
	}
	live = benchToken(1 << 20)
	if _, err := db.RequestReset(ctx, "alice@example.com", live, 3, compose); err != nil {
		b.Fatal(err)
	}
	wrong := benchToken(1 << 21).Hash
	for _, bc := range []struct {
		name, email string
		hash        [32]byte
		want        error
	}{
		{"KnownWrongToken", "alice@example.com", wrong, safereset.ErrTokenInvalid},
		{"KnownLiveToken", "alice@example.com", live.Hash, nil},
		{"Unknown", "nobody@example.com", wrong, safereset.ErrTokenInvalid},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := db.CheckToken(ctx, bc.email, bc.hash, t0); !errors.Is(err, bc.want) && err != bc.want {
					b.Fatalf("CheckToken = %v, want %v", err, bc.want)
				}
			}
		})
	}
}
