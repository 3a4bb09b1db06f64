package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"
)

// Counter is a shared fixed-window counter, such as a table in the
// database every replica uses. Count adds n hits to key (n may be 0 to
// read) in a window of period that starts at the first hit, and returns
// the hits so far and when the window ends; Clear forgets key.
type Counter interface {
	Count(ctx context.Context, key string, n int64, period time.Duration) (hits int64, windowEnd time.Time, err error)
	Clear(ctx context.Context, key string) error
}

// NewCounterStore returns a Store that keeps its buckets in c, through
// ulule/limiter's Store interface like the memory and Redis stores.
func NewCounterStore(c Counter) Store {
	return ululeStore{counterStore{c}}
}

// counterStore implements limiter.Store on a Counter.
type counterStore struct{ c Counter }

var _ limiter.Store = counterStore{}

func (s counterStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.Increment(ctx, key, 1, rate)
}

func (s counterStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.Increment(ctx, key, 0, rate)
}

func (s counterStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	if err := s.c.Clear(ctx, key); err != nil {
		return limiter.Context{}, fmt.Errorf("ratelimit: reset: %w", err)
	}
	return limiter.Context{Limit: rate.Limit, Remaining: rate.Limit, Reset: time.Now().Add(rate.Period).Unix()}, nil
}

func (s counterStore) Increment(ctx context.Context, key string, n int64, rate limiter.Rate) (limiter.Context, error) {
	hits, end, err := s.c.Count(ctx, key, n, rate.Period)
	if err != nil {
		return limiter.Context{}, err
	}
	return common.GetContextFromState(time.Now(), rate, end, hits), nil
}
