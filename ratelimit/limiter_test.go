package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/ratelimit"
)

// testSecret is a fixed 32-byte HMAC key.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// recordingStore is the real memory store, with every key it is asked
// for written down so tests can look at what the limiter keeps.
type recordingStore struct {
	ratelimit.Store
	mu   sync.Mutex
	keys map[string]int
}

func (s *recordingStore) Increment(ctx context.Context, key string, rate ratelimit.Rate) (safereset.LimitResult, error) {
	s.mu.Lock()
	s.keys[key]++
	s.mu.Unlock()
	return s.Store.Increment(ctx, key, rate)
}

func (s *recordingStore) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k []string
	for key := range s.keys {
		k = append(k, key)
	}
	return k
}

func mustNewLimiter(t *testing.T, cfg ratelimit.Config) (*ratelimit.Limiter, *recordingStore) {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	store := &recordingStore{Store: ratelimit.NewMemoryStore(0), keys: map[string]int{}}
	if cfg.Store == nil {
		cfg.Store = store
	}
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, store
}

func mustTake(t *testing.T, l *ratelimit.Limiter, route safereset.Route, kind safereset.LimitKind, key string) safereset.LimitResult {
	t.Helper()
	res, err := l.Take(context.Background(), route, kind, key)
	if err != nil {
		t.Fatalf("Take(%s, %s): %v", route, kind, err)
	}
	return res
}

func TestNew(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		l, _ := mustNewLimiter(t, ratelimit.Config{})
		for _, tc := range []struct {
			route safereset.Route
			kind  safereset.LimitKind
			want  string
		}{
			{safereset.RouteRequest, safereset.LimitEmail, "3-H"},
			{safereset.RouteReset, safereset.LimitEmail, "10-H"},
			{safereset.RouteRequest, safereset.LimitIP, "60-M"},
			{safereset.RouteReset, safereset.LimitIP, "60-M"},
		} {
			if got := l.Rate(tc.route, tc.kind).String(); got != tc.want {
				t.Errorf("Rate(%s, %s) = %s, want %s", tc.route, tc.kind, got, tc.want)
			}
		}
	})
	t.Run("ShortSecret", func(t *testing.T) {
		_, err := ratelimit.New(ratelimit.Config{Secret: testSecret[:31]})
		if !errors.Is(err, ratelimit.ErrShortSecret) {
			t.Fatalf("err = %v, want ErrShortSecret", err)
		}
	})
	for _, cfg := range []ratelimit.Config{
		{RequestPerEmail: "3-X"},
		{ResetPerEmail: "-1-H"},
		{PerIP: "abc"},
	} {
		t.Run("BadRate", func(t *testing.T) {
			cfg.Secret = testSecret
			_, err := ratelimit.New(cfg)
			if !errors.Is(err, ratelimit.ErrBadRate) {
				t.Fatalf("New(%+v) err = %v, want ErrBadRate", cfg, err)
			}
		})
	}
	t.Run("UnknownBucket", func(t *testing.T) {
		l, _ := mustNewLimiter(t, ratelimit.Config{})
		_, err := l.Take(context.Background(), "login", safereset.LimitIP, "192.0.2.1")
		if !errors.Is(err, ratelimit.ErrUnknownBucket) {
			t.Fatalf("err = %v, want ErrUnknownBucket", err)
		}
	})
}

func TestTake_EmailLimit(t *testing.T) {
	l, _ := mustNewLimiter(t, ratelimit.Config{})
	const addr = "victim@example.com"
	for i := int64(1); i <= 3; i++ {
		res := mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, addr)
		if res.Reached || res.Limit != 3 || res.Remaining != 3-i {
			t.Fatalf("take %d: %+v, want Limit 3, Remaining %d, not Reached", i, res, 3-i)
		}
	}
	before := time.Now()
	res := mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, addr)
	if !res.Reached || res.Remaining != 0 || res.Limit != 3 {
		t.Fatalf("4th take: %+v, want Reached with Remaining 0", res)
	}
	if !res.Reset.After(before) || res.Reset.After(before.Add(time.Hour+2*time.Second)) {
		t.Fatalf("4th take: Reset %v not within the hour after %v", res.Reset, before)
	}

	other := mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, "someone.else@example.com")
	if other.Reached || other.Remaining != 2 {
		t.Fatalf("another address: %+v, want a fresh bucket", other)
	}
}

func TestTake_EmailVariantsShareBucket(t *testing.T) {
	// Each group must land in one bucket; the groups must not share one.
	groups := [][]string{
		{
			"victim@example.com",
			"Victim@Example.COM",
			" victim@example.com ",
			"\tVICTIM@EXAMPLE.COM\n",
			"ｖｉｃｔｉｍ＠ｅｘａｍｐｌｅ．ｃｏｍ",       // fullwidth
			"vic\u200btim@example.com", // zero-width space
			"victim@example.com\u00a0", // no-break space
		},
		{
			"kate@example.com",
			"\u212aate@example.com", // Kelvin sign
			"KATE@EXAMPLE.COM",
			"Ｋate@example.com", // fullwidth capital K
		},
		{
			"strasse@example.de",
			"STRASSE@example.de",
			"straße@example.de", // full case folding: ß -> ss
			"STRAẞE@example.de", // capital sharp s
		},
	}
	l, store := mustNewLimiter(t, ratelimit.Config{RequestPerEmail: "100-H"})
	for gi, g := range groups {
		for i, addr := range g {
			res := mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, addr)
			if want := int64(100 - i - 1); res.Remaining != want {
				t.Errorf("group %d, %q: Remaining %d, want %d (not the group's bucket)", gi, addr, res.Remaining, want)
			}
		}
	}
	if n := len(store.Keys()); n != len(groups) {
		t.Errorf("store holds %d keys, want %d (one per group)", n, len(groups))
	}
}

func TestTake_RoutesAndKindsSeparate(t *testing.T) {
	l, _ := mustNewLimiter(t, ratelimit.Config{RequestPerEmail: "1-H", ResetPerEmail: "1-H", PerIP: "1-M"})
	const addr, ip = "victim@example.com", "192.0.2.10"
	for _, tc := range []struct {
		route safereset.Route
		kind  safereset.LimitKind
		key   string
	}{
		{safereset.RouteRequest, safereset.LimitEmail, addr},
		{safereset.RouteReset, safereset.LimitEmail, addr},
		{safereset.RouteRequest, safereset.LimitIP, ip},
		{safereset.RouteReset, safereset.LimitIP, ip},
	} {
		if res := mustTake(t, l, tc.route, tc.kind, tc.key); res.Reached || res.Remaining != 0 {
			t.Errorf("first take %s/%s: %+v, want its own fresh bucket", tc.route, tc.kind, res)
		}
		if res := mustTake(t, l, tc.route, tc.kind, tc.key); !res.Reached {
			t.Errorf("second take %s/%s: %+v, want Reached", tc.route, tc.kind, res)
		}
	}
}

func TestTake_IPLimit(t *testing.T) {
	l, _ := mustNewLimiter(t, ratelimit.Config{PerIP: "2-M"})
	take := func(route safereset.Route, ip string) safereset.LimitResult {
		t.Helper()
		return mustTake(t, l, route, safereset.LimitIP, ip)
	}
	take(safereset.RouteRequest, "192.0.2.1")
	take(safereset.RouteRequest, "::ffff:192.0.2.1") // the same client, IPv4-mapped
	if res := take(safereset.RouteRequest, "192.0.2.1"); !res.Reached || res.Limit != 2 {
		t.Fatalf("3rd POST from one IP: %+v, want Reached", res)
	}
	if res := take(safereset.RouteReset, "192.0.2.1"); res.Reached {
		t.Fatalf("PATCH after POST limit: %+v, want the PATCH bucket untouched", res)
	}
	if res := take(safereset.RouteRequest, "192.0.2.2"); res.Reached {
		t.Fatalf("other IP: %+v, want not Reached", res)
	}

	// One IPv6 subscriber rotating through its /64 stays in one bucket.
	take(safereset.RouteRequest, "2001:db8:1:2::1")
	take(safereset.RouteRequest, "2001:db8:1:2:ffff::99")
	if res := take(safereset.RouteRequest, "2001:db8:1:2:abcd::7"); !res.Reached {
		t.Fatalf("3rd POST from one /64: %+v, want Reached", res)
	}
	if res := take(safereset.RouteRequest, "2001:db8:1:3::1"); res.Reached {
		t.Fatalf("neighbouring /64: %+v, want its own bucket", res)
	}
}

func TestTake_Disabled(t *testing.T) {
	l, store := mustNewLimiter(t, ratelimit.Config{RequestPerEmail: "0", PerIP: "0"})
	for i := 0; i < 100; i++ {
		if res := mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, "victim@example.com"); res != (safereset.LimitResult{}) {
			t.Fatalf("disabled email limit: %+v, want zero result", res)
		}
		if res := mustTake(t, l, safereset.RouteReset, safereset.LimitIP, "192.0.2.1"); res != (safereset.LimitResult{}) {
			t.Fatalf("disabled IP limit: %+v, want zero result", res)
		}
	}
	if k := store.Keys(); len(k) != 0 {
		t.Errorf("disabled limits wrote %d keys to the store", len(k))
	}
	// The one limit left on still counts.
	if res := mustTake(t, l, safereset.RouteReset, safereset.LimitEmail, "victim@example.com"); res.Limit != 10 || res.Remaining != 9 {
		t.Fatalf("PATCH per email: %+v, want the default 10-H", res)
	}
}

func TestTake_NoPlaintextInStore(t *testing.T) {
	l, store := mustNewLimiter(t, ratelimit.Config{})
	addrs := []string{"Victim.Person@Example.COM", "unknown-nobody@nowhere.example", "ｋａｔｅ@ｅｘａｍｐｌｅ.org"}
	for _, a := range addrs {
		mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, a)
		mustTake(t, l, safereset.RouteReset, safereset.LimitEmail, a)
	}
	keys := store.Keys()
	if len(keys) != 2*len(addrs) {
		t.Fatalf("store keys %q, want %d", keys, 2*len(addrs))
	}
	for _, k := range keys {
		low := strings.ToLower(k)
		for _, part := range []string{"victim", "person", "example", "unknown", "nobody", "nowhere", "kate", "ｋａｔｅ", "@"} {
			if strings.Contains(low, part) {
				t.Errorf("store key %q contains %q", k, part)
			}
		}
		if !strings.HasPrefix(k, "request:email:") && !strings.HasPrefix(k, "reset:email:") {
			t.Errorf("store key %q is not a route/kind bucket", k)
		}
	}
	// The key is the HMAC of the address under the secret.
	want := "request:email:" + ratelimit.EmailKey(testSecret, "victim.person@example.com")
	if store.keys[want] != 1 {
		t.Errorf("store has no key %q for the first address; keys %q", want, keys)
	}
	// Another secret gives other keys.
	other := bytes.Repeat([]byte{7}, 32)
	if ratelimit.EmailKey(testSecret, addrs[0]) == ratelimit.EmailKey(other, addrs[0]) {
		t.Error("EmailKey does not depend on the secret")
	}
}

// waitUntil blocks until the wall clock, which ulule's memory store reads,
// is past t.
func waitUntil(t time.Time) {
	for d := time.Until(t); d >= 0; d = time.Until(t) {
		time.Sleep(d + time.Millisecond)
	}
}

func TestTake_WindowResets(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a one-second window to pass")
	}
	l, _ := mustNewLimiter(t, ratelimit.Config{RequestPerEmail: "2-S"})
	const addr = "victim@example.com"
	// The window is one second long; on a badly loaded machine the three
	// calls may straddle two windows, so then wait for a fresh one and try
	// again. The limit must be seen Reached before waiting for its Reset.
	var reached safereset.LimitResult
	for attempt := 1; ; attempt++ {
		mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, addr)
		mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, addr)
		reached = mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, addr)
		if reached.Reached {
			break
		}
		if attempt == 3 {
			t.Fatalf("3rd take of a 2-S limit: %+v, want Reached", reached)
		}
		waitUntil(reached.Reset)
	}
	if !reached.Reset.After(time.Now()) {
		t.Fatalf("Reset %v is not in the future", reached.Reset)
	}
	waitUntil(reached.Reset)
	res := mustTake(t, l, safereset.RouteRequest, safereset.LimitEmail, addr)
	if res.Reached || res.Remaining != 1 {
		t.Fatalf("first take after Reset: %+v, want a fresh window (Remaining 1)", res)
	}
}

func TestTake_Concurrent(t *testing.T) {
	l, _ := mustNewLimiter(t, ratelimit.Config{RequestPerEmail: "10-H", PerIP: "10-H"})
	for _, kind := range []safereset.LimitKind{safereset.LimitEmail, safereset.LimitIP} {
		t.Run(string(kind), func(t *testing.T) {
			const n = 100
			var (
				start   = make(chan struct{})
				wg      sync.WaitGroup
				results = make(chan safereset.LimitResult, n)
				errs    = make(chan error, n)
			)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					key := "Victim@Example.com"
					if kind == safereset.LimitIP {
						key = "198.51.100.7"
					}
					res, err := l.Take(context.Background(), safereset.RouteRequest, kind, key)
					if err != nil {
						errs <- err
						return
					}
					results <- res
				}()
			}
			close(start)
			wg.Wait()
			close(results)
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			allowed := 0
			remaining := map[int64]bool{}
			for res := range results {
				if !res.Reached {
					allowed++
					remaining[res.Remaining] = true
				}
			}
			if allowed != 10 || len(remaining) != 10 {
				t.Fatalf("%d of %d concurrent takes allowed (distinct Remaining %d), want exactly 10", allowed, n, len(remaining))
			}
		})
	}
}
