package postgres_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/store/storetest"
)

func benchToken(i int) safereset.ResetToken {
	var h [32]byte
	binary.BigEndian.PutUint64(h[:], uint64(i)+1)
	return safereset.ResetToken{Hash: h, ExpiresAt: storetest.T0.Add(time.Hour)}
}

func compose(u safereset.User) (safereset.Message, time.Time, error) {
	return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "Reset", Text: "token 0123456789abcdef0123456789abcdef"}, storetest.T0.Add(time.Hour), nil
}

// BenchmarkRequestReset is one token request transaction (four round
// trips) for a known and an unknown address; they should cost the same.
func BenchmarkRequestReset(b *testing.B) {
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		b.Run(email[:5], func(b *testing.B) {
			db := openBench(b)
			ctx := context.Background()
			if _, err := db.CreateUser(ctx, safereset.User{Email: "alice@example.com", PasswordHash: "$argon2id$x"}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := db.RequestReset(ctx, email, benchToken(i), 3, compose); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResetPassword is one reset: lock, check-and-consume, commit.
func BenchmarkResetPassword(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	if _, err := db.CreateUser(ctx, safereset.User{Email: "alice@example.com", PasswordHash: "$argon2id$x"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tok := benchToken(i)
		if _, err := db.RequestReset(ctx, "alice@example.com", tok, 3, compose); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := db.ResetPassword(ctx, "alice@example.com", tok.Hash, "$argon2id$new", storetest.T0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRateLimitTake is one rate-limit take (one upsert).
func BenchmarkRateLimitTake(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := db.Count(ctx, "request:email:k", 1, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPing is the floor: one round trip.
func BenchmarkPing(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
