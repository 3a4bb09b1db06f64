package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"sync"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/clientip"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
)

// The defaults of SPEC §7, used for Config fields left empty.
const (
	DefaultRequestPerEmail = "3-H"
	DefaultResetPerEmail   = "10-H"
	DefaultPerIP           = "60-M"
	// DefaultPerIPRange is the per-IP limit of the range API: a client
	// checking a password list asks for one range per password.
	DefaultPerIPRange = "600-M"
)

// MinSecretLen is the shortest HMAC key New accepts.
const MinSecretLen = 32

// Errors returned by New and Take, checked with errors.Is.
var (
	// ErrShortSecret is returned by New when Config.Secret is shorter than
	// MinSecretLen bytes.
	ErrShortSecret = errors.New("rate-limit secret too short")
	// ErrUnknownBucket is returned by Take for a route or key kind it has no
	// limit for.
	ErrUnknownBucket = errors.New("unknown rate-limit route or key kind")
)

// Config sets the limits. Empty rate strings take the defaults of SPEC §7;
// "0" disables a limit.
type Config struct {
	// RequestPerEmail limits POST /api/v1/user/reset-password per address.
	RequestPerEmail string
	// ResetPerEmail limits PATCH /api/v1/user/reset-password per address.
	ResetPerEmail string
	// PerIP limits each route per client IP, separately for each route.
	PerIP string
	// PerIPRange limits the range API per client IP (default DefaultPerIPRange).
	PerIPRange string
	// Secret is the HMAC key for address buckets, at least MinSecretLen
	// bytes; see LoadOrCreateSecret.
	Secret []byte
	// Store keeps the counters; nil means a new in-process memory store
	// (NewMemoryStore(0)).
	Store Store
}

// Store keeps fixed-window counters. It is the seam for a store shared by
// several replicas (ulule's Redis driver behind the same adapter as the
// memory store); handlers only see safereset.Limiter.
type Store interface {
	// Increment counts one request for key under rate (never disabled) and
	// returns the bucket's state after counting it. Reset is a time at or
	// after the end of the current window.
	Increment(ctx context.Context, key string, rate Rate) (safereset.LimitResult, error)
}

// NewMemoryStore returns a Store kept in this process's memory, on ulule's
// memory driver. Expired windows are dropped every cleanup interval
// (limiter.DefaultCleanUpInterval, 30s, when cleanup <= 0).
func NewMemoryStore(cleanup time.Duration) Store {
	if cleanup <= 0 {
		cleanup = limiter.DefaultCleanUpInterval
	}
	return ululeStore{memory.NewStoreWithOptions(limiter.StoreOptions{
		Prefix:          "safereset",
		CleanUpInterval: cleanup,
	})}
}

// ululeStore adapts any ulule/limiter store to Store.
type ululeStore struct{ s limiter.Store }

// Ping reports whether a remote store (Redis) answers; a store that has
// nothing to ping reports nil.
func (u ululeStore) Ping(ctx context.Context) error {
	if p, ok := u.s.(interface{ Ping(context.Context) error }); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (u ululeStore) Increment(ctx context.Context, key string, rate Rate) (safereset.LimitResult, error) {
	c, err := u.s.Increment(ctx, key, 1, limiter.Rate{Limit: rate.Limit, Period: rate.Period})
	if err != nil {
		return safereset.LimitResult{}, fmt.Errorf("ratelimit: increment: %w", err)
	}
	return safereset.LimitResult{
		Limit:     c.Limit,
		Remaining: c.Remaining,
		// ulule reports the window's end truncated to a whole second; the
		// window really ends within the second after it. Report the next
		// whole second so a client that waits until Reset (or Retry-After)
		// is never refused again by the same window.
		Reset:   time.Unix(c.Reset+1, 0),
		Reached: c.Reached,
	}, nil
}

// Limiter counts requests per route and key; it implements
// safereset.Limiter. It is safe for concurrent use.
type Limiter struct {
	store Store
	rates map[bucket]Rate
	// macs holds keyed HMAC-SHA256 states: keying one costs as much as
	// the rest of a Take.
	macs sync.Pool
}

type bucket struct {
	route safereset.Route
	kind  safereset.LimitKind
}

var _ safereset.Limiter = (*Limiter)(nil)

// New returns a Limiter for cfg. It fails on an invalid rate or a secret
// shorter than MinSecretLen.
func New(cfg Config) (*Limiter, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("ratelimit: secret has %d bytes, want at least %d: %w", len(cfg.Secret), MinSecretLen, ErrShortSecret)
	}
	parse := func(name, s, def string) (Rate, error) {
		if s == "" {
			s = def
		}
		r, err := ParseRate(s)
		if err != nil {
			return Rate{}, fmt.Errorf("%s: %w", name, err)
		}
		return r, nil
	}
	reqEmail, err := parse("request per email", cfg.RequestPerEmail, DefaultRequestPerEmail)
	if err != nil {
		return nil, err
	}
	resetEmail, err := parse("reset per email", cfg.ResetPerEmail, DefaultResetPerEmail)
	if err != nil {
		return nil, err
	}
	perIP, err := parse("per IP", cfg.PerIP, DefaultPerIP)
	if err != nil {
		return nil, err
	}
	perIPRange, err := parse("range per IP", cfg.PerIPRange, DefaultPerIPRange)
	if err != nil {
		return nil, err
	}
	store := cfg.Store
	if store == nil {
		store = NewMemoryStore(0)
	}
	secret := append([]byte(nil), cfg.Secret...)
	return &Limiter{
		store: store,
		macs:  sync.Pool{New: func() any { return hmac.New(sha256.New, secret) }},
		rates: map[bucket]Rate{
			{safereset.RouteRequest, safereset.LimitEmail}: reqEmail,
			{safereset.RouteReset, safereset.LimitEmail}:   resetEmail,
			{safereset.RouteRequest, safereset.LimitIP}:    perIP,
			{safereset.RouteReset, safereset.LimitIP}:      perIP,
			{safereset.RouteCheck, safereset.LimitIP}:      perIP,
			{safereset.RouteRange, safereset.LimitIP}:      perIPRange,
		},
	}, nil
}

// Rate returns the limit that applies to route and kind (zero if none).
func (l *Limiter) Rate(route safereset.Route, kind safereset.LimitKind) Rate {
	return l.rates[bucket{route, kind}]
}

// Take counts one request in the bucket of route, kind and key and returns
// the bucket's state. For safereset.LimitEmail, key is the raw address from
// the request: it is folded and HMACed (EmailKey) before it reaches the
// store, and whether an account has it plays no part. For
// safereset.LimitIP, key is the client's IP; IPv6 addresses share a bucket
// per /64, the block one subscriber usually holds. A disabled limit
// returns the zero LimitResult and is never Reached.
func (l *Limiter) Take(ctx context.Context, route safereset.Route, kind safereset.LimitKind, key string) (safereset.LimitResult, error) {
	rate, ok := l.rates[bucket{route, kind}]
	if !ok {
		return safereset.LimitResult{}, fmt.Errorf("ratelimit: take %q/%q: %w", route, kind, ErrUnknownBucket)
	}
	if rate.Disabled() {
		return safereset.LimitResult{}, nil
	}
	switch kind {
	case safereset.LimitEmail:
		mac := l.macs.Get().(hash.Hash)
		key = emailKey(mac, key)
		mac.Reset()
		l.macs.Put(mac)
	case safereset.LimitIP:
		key = clientip.Key(key)
	}
	res, err := l.store.Increment(ctx, string(route)+":"+string(kind)+":"+key, rate)
	if err != nil {
		return safereset.LimitResult{}, fmt.Errorf("ratelimit: take %s/%s: %w", route, kind, err)
	}
	return res, nil
}
