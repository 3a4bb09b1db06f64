package ratelimit_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/ratelimit"
)

// BenchmarkTake measures one Take per op on the default memory store, over
// 1024 distinct keys so the map is not a single hot entry. "request" is what
// one POST costs: the per-IP take plus the per-email take.
func BenchmarkTake(b *testing.B) {
	const keys = 1024
	emails := make([]string, keys)
	unicodeEmails := make([]string, keys)
	ips := make([]string, keys)
	for i := range keys {
		emails[i] = fmt.Sprintf(" User.Number%d@Example.COM", i)
		unicodeEmails[i] = fmt.Sprintf("Ｕser.\u212aelvin%d@Example.COM", i)
		ips[i] = net.IPv4(198, 51, byte(i>>8), byte(i)).String()
	}
	newLimiter := func(b *testing.B) *ratelimit.Limiter {
		b.Helper()
		l, err := ratelimit.New(ratelimit.Config{
			RequestPerEmail: "1000000-H", PerIP: "1000000-H", Secret: testSecret,
		})
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	ctx := context.Background()
	take := func(b *testing.B, l *ratelimit.Limiter, kind safereset.LimitKind, key string) {
		if _, err := l.Take(ctx, safereset.RouteRequest, kind, key); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("ip", func(b *testing.B) {
		l := newLimiter(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			take(b, l, safereset.LimitIP, ips[i%keys])
		}
	})
	b.Run("email", func(b *testing.B) {
		l := newLimiter(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			take(b, l, safereset.LimitEmail, emails[i%keys])
		}
	})
	b.Run("email-unicode", func(b *testing.B) {
		l := newLimiter(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			take(b, l, safereset.LimitEmail, unicodeEmails[i%keys])
		}
	})
	b.Run("request", func(b *testing.B) {
		l := newLimiter(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			take(b, l, safereset.LimitIP, ips[i%keys])
			take(b, l, safereset.LimitEmail, emails[i%keys])
		}
	})
	b.Run("request-parallel", func(b *testing.B) {
		l := newLimiter(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				take(b, l, safereset.LimitIP, ips[i%keys])
				take(b, l, safereset.LimitEmail, emails[i%keys])
			}
		})
	})
}

// BenchmarkTake_MemoryPerKey reports the heap one new address bucket keeps
// (bytes/key), the figure behind the memory caveat in doc.go.
func BenchmarkTake_MemoryPerKey(b *testing.B) {
	const n = 100_000
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("someone%d@example.com", i)
	}
	for b.Loop() {
		l, err := ratelimit.New(ratelimit.Config{Secret: testSecret})
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, a := range addrs {
			if _, err := l.Take(context.Background(), safereset.RouteRequest, safereset.LimitEmail, a); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "bytes/key")
		runtime.KeepAlive(l)
	}
}
