package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	libredis "github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"
)

// NewRedisStore returns a Store on ulule's Redis store at url
// (redis://[user:pass@]host:port/db or rediss://). It does not contact
// Redis: ulule's store loads its scripts on first use, and until Redis
// answers every take fails (the server refuses the request, never lets it
// through unlimited), so a replica can start while Redis is briefly down.
func NewRedisStore(url string) (_ Store, closer interface{ Close() error }, err error) {
	opts, err := libredis.ParseURL(url)
	if err != nil {
		// go-redis quotes the URL, password included.
		return nil, nil, errors.New("ratelimit: the Redis URL does not parse (want redis://host:port/db or rediss://…)")
	}
	client := libredis.NewClient(opts)
	return ululeStore{&lazyRedis{client: client}}, client, nil
}

// lazyRedis builds ulule's Redis store on the first call that reaches
// Redis, and retries on every call until then.
type lazyRedis struct {
	client *libredis.Client
	mu     sync.Mutex
	store  limiter.Store
}

func (l *lazyRedis) get(ctx context.Context) (limiter.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store != nil {
		return l.store, nil
	}
	if err := l.client.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	s, err := redisstore.NewStoreWithOptions(l.client, limiter.StoreOptions{Prefix: "safereset"})
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	l.store = s
	return s, nil
}

func (l *lazyRedis) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := l.get(ctx)
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Get(ctx, key, rate)
}

func (l *lazyRedis) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := l.get(ctx)
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Peek(ctx, key, rate)
}

func (l *lazyRedis) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := l.get(ctx)
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Reset(ctx, key, rate)
}

func (l *lazyRedis) Increment(ctx context.Context, key string, n int64, rate limiter.Rate) (limiter.Context, error) {
	s, err := l.get(ctx)
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Increment(ctx, key, n, rate)
}

// Ping reports whether Redis answers, for readiness.
func (l *lazyRedis) Ping(ctx context.Context) error { return l.client.Ping(ctx).Err() }
