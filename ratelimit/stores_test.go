package ratelimit_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/internal/redistest"
	"github.com/safereset/safereset/postgres"
	"github.com/safereset/safereset/ratelimit"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// stores makes each shared store the limiter can run on.
var stores = []struct {
	name string
	open func(t *testing.T) ratelimit.Store
}{
	{"Memory", func(t *testing.T) ratelimit.Store { return ratelimit.NewMemoryStore(0) }},
	{"PostgreSQL", func(t *testing.T) ratelimit.Store { return ratelimit.NewCounterStore(openPostgres(t)) }},
	{"Redis", func(t *testing.T) ratelimit.Store {
		st, closer, err := ratelimit.NewRedisStore(redistest.Start(t, 0).URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closer.Close() })
		return st
	}},
}

func openPostgres(t *testing.T) *postgres.DB {
	t.Helper()
	url := pgtest.New(t)
	if _, err := postgres.Migrate(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStores_Limit(t *testing.T) {
	ctx := context.Background()
	rate := ratelimit.Rate{Limit: 3, Period: time.Hour}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			for i := 1; i <= 5; i++ {
				res, err := st.Increment(ctx, "k", rate)
				if err != nil {
					t.Fatalf("take %d: %v", i, err)
				}
				wantRemaining := max(3-int64(i), 0)
				if res.Reached != (i > 3) || res.Remaining != wantRemaining || res.Limit != 3 {
					t.Errorf("take %d = %+v; want reached=%v remaining=%d", i, res, i > 3, wantRemaining)
				}
				if d := time.Until(res.Reset); d <= 0 || d > time.Hour+2*time.Second {
					t.Errorf("take %d resets in %v; want within the hour", i, d)
				}
			}
			if res, err := st.Increment(ctx, "other", rate); err != nil || res.Reached || res.Remaining != 2 {
				t.Errorf("another key's first take = %+v, %v", res, err)
			}
		})
	}
}

// Concurrent takes of one bucket (as from several replicas) let exactly
// the limit through.
func TestStores_ConcurrentTakes(t *testing.T) {
	ctx := context.Background()
	rate := ratelimit.Rate{Limit: 5, Period: time.Hour}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			const n = 40
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				mu      sync.Mutex
				allowed int
			)
			for range n {
				wg.Go(func() {
					<-start
					res, err := st.Increment(ctx, "hot", rate)
					if err != nil {
						t.Error(err)
						return
					}
					if !res.Reached {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				})
			}
			close(start)
			wg.Wait()
			if allowed != 5 {
				t.Errorf("%d of %d concurrent takes allowed, want 5", allowed, n)
			}
		})
	}
}

// With Redis down a take fails (the server refuses the request), a store
// made while Redis is down works once it is up, and the limiter fails
// closed again when it goes away.
func TestRedisStore_Outage(t *testing.T) {
	ctx := context.Background()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	st, closer, err := ratelimit.NewRedisStore(fmt.Sprintf("redis://127.0.0.1:%d/0", port))
	if err != nil {
		t.Fatalf("NewRedisStore with Redis down: %v", err)
	}
	defer closer.Close()
	l, err := ratelimit.New(ratelimit.Config{RequestPerEmail: "2-H", Secret: testSecret, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Take(ctx, "request", "email", "a@example.com"); err == nil {
		t.Fatal("Take with Redis down succeeded; want an error (fail closed)")
	}
	srv := redistest.Start(t, port)
	for i := 1; i <= 3; i++ {
		res, err := l.Take(ctx, "request", "email", "a@example.com")
		if err != nil {
			t.Fatalf("take %d after Redis came up: %v", i, err)
		}
		if res.Reached != (i > 2) {
			t.Errorf("take %d: reached = %v", i, res.Reached)
		}
	}
	srv.Stop()
	if _, err := l.Take(ctx, "request", "email", "a@example.com"); err == nil {
		t.Error("Take after Redis went away succeeded; want an error")
	}
}

func TestPostgresStore_Outage(t *testing.T) {
	db := openPostgres(t)
	l, err := ratelimit.New(ratelimit.Config{RequestPerEmail: "2-H", Secret: testSecret, Store: ratelimit.NewCounterStore(db)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Take(context.Background(), "request", "email", "a@example.com"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := l.Take(context.Background(), "request", "email", "a@example.com"); err == nil {
		t.Error("Take on a closed database succeeded; want an error (fail closed)")
	}
}
