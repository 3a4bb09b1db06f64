package postgres

import (
	"context"
	"fmt"
	"time"
)

// Count adds n hits to the rate-limit bucket key and returns its hits and
// window end, in one statement (one round trip). The window starts at the
// first hit and is judged by the database's clock, so replicas agree
// whatever their own clocks say. The table is UNLOGGED: a database crash
// only resets the limits.
func (db *DB) Count(ctx context.Context, key string, n int64, period time.Duration) (int64, time.Time, error) {
	var (
		hits int64
		end  time.Time
	)
	err := db.pool.QueryRow(ctx, `INSERT INTO rate_limits AS r (key, hits, expires_at)
		VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (key) DO UPDATE SET
			hits = CASE WHEN r.expires_at <= clock_timestamp() THEN $2 ELSE r.hits + $2 END,
			expires_at = CASE WHEN r.expires_at <= clock_timestamp() THEN excluded.expires_at ELSE r.expires_at END
		RETURNING hits, expires_at`, key, n, period.Microseconds()).Scan(&hits, &end)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("postgres: rate limit: %w", err)
	}
	if db.sweeps.Add(1)%sweepEvery == 0 {
		db.sweepLimits(ctx)
	}
	return hits, end, nil
}

// Clear forgets the bucket key.
func (db *DB) Clear(ctx context.Context, key string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM rate_limits WHERE key = $1`, key); err != nil {
		return fmt.Errorf("postgres: rate limit: %w", err)
	}
	return nil
}

// sweepEvery is how many counts pass between deletions of ended windows;
// every replica sweeps, so the table holds roughly the live buckets.
const sweepEvery = 1024

// sweepLimits deletes buckets whose window has ended. A failure is
// harmless (the next sweep tries again), so it is not reported.
func (db *DB) sweepLimits(ctx context.Context) {
	_, _ = db.pool.Exec(ctx, `DELETE FROM rate_limits WHERE expires_at < clock_timestamp()`)
}
