package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/safereset/safereset"
)

// BenchmarkRequestResetAudited is BenchmarkRequestReset with the audit
// line the server writes for a known address, which is what the audit
// order lock adds to; "parallel" runs GOMAXPROCS×4 token requests for
// different users at once, so writers overlap as they do across replicas.
// Run with -count 5 or more and compare with benchstat.
func BenchmarkRequestResetAudited(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		db := openBench(b)
		ctx := context.Background()
		if _, err := db.CreateUser(ctx, safereset.User{Email: "alice@example.com", PasswordHash: "$argon2id$x"}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := db.RequestReset(ctx, "alice@example.com", benchToken(), 3, compose, audited); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		db := openBench(b)
		ctx := context.Background()
		const users = 64
		for i := range users {
			if _, err := db.CreateUser(ctx, safereset.User{Email: fmt.Sprintf("u%d@example.com", i), PasswordHash: "$argon2id$x"}); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				email := fmt.Sprintf("u%d@example.com", next.Add(1)%users)
				if _, err := db.RequestReset(ctx, email, benchToken(), 3, compose, audited); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
