package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/password"
	"github.com/safereset/safereset/ratelimit"
	"github.com/safereset/safereset/server"
	"github.com/safereset/safereset/store"
)

// benchEnv is a public app on real parts: a synced bbolt file, the
// embedded breach filter, the .eml sender, argon2id at production cost.
type benchEnv struct {
	app *fiber.App
	db  *store.DB
	key string
}

func newBenchEnv(b *testing.B, limiter safereset.Limiter, params password.Params, conc int) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	db, err := store.Open(filepath.Join(dir, "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	f, err := breach.OpenDefault()
	if err != nil {
		b.Fatal(err)
	}
	checker := breach.NewChecker(f, breach.CheckerOptions{MinScore: 3})
	b.Cleanup(func() { checker.Close() })
	composer, err := mail.NewComposer(mail.ComposerConfig{ResetURL: "https://example.com/r?t={token}&e={email}"})
	if err != nil {
		b.Fatal(err)
	}
	sender, err := mail.NewDirSender(filepath.Join(dir, "outbox"))
	if err != nil {
		b.Fatal(err)
	}
	hasher, err := password.NewHasher(params, conc, nil)
	if err != nil {
		b.Fatal(err)
	}
	app, err := server.NewPublic(server.Deps{Store: db, Breach: checker, Composer: composer, Sender: sender,
		Hasher: hasher, Limiter: limiter})
	if err != nil {
		b.Fatal(err)
	}
	key, id, hash, err := server.NewAPIKey()
	if err != nil {
		b.Fatal(err)
	}
	if err := db.CreateAPIKey(context.Background(), safereset.APIKey{ID: id, Name: "bench", Hash: hash, CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	return &benchEnv{app: app, db: db, key: key}
}

func (e *benchEnv) send(b *testing.B, method, body string, want int) {
	req := httptest.NewRequest(method, "/api/v1/user/reset-password", strings.NewReader(body))
	req.Header.Set("X-Api-Key", e.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.app.Test(req, -1)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
}

const benchPW = "kDWPe4qf$&mgM26&8hX"

// BenchmarkPatch_Rejection is the validation-error path: auth by key hash,
// strict decode, every field rule, breach filter, no token lookup.
func BenchmarkPatch_Rejection(b *testing.B) {
	e := newBenchEnv(b, nil, password.DefaultParams, runtime.GOMAXPROCS(0))
	body := `{"emailAddress":"jane@example.com","password":"short","passwordVerify":"short","token":"` + strings.Repeat("a", 32) + `"}`
	b.ReportAllocs()
	for b.Loop() {
		e.send(b, "PATCH", body, 400)
	}
}

// BenchmarkLimiterCost compares the cheapest authenticated answer (a POST
// whose address is invalid) with and without the rate limiter. The two
// apps are called alternately in one loop so load on the shared machine
// hits both alike; the difference is the limiter's cost per request (one
// per-IP and one per-email take, fresh address each time).
func BenchmarkLimiterCost(b *testing.B) {
	l, err := ratelimit.New(ratelimit.Config{RequestPerEmail: "1000000000-H", PerIP: "1000000000-H",
		Secret: []byte(strings.Repeat("s", 32))})
	if err != nil {
		b.Fatal(err)
	}
	bare := newBenchEnv(b, nil, password.DefaultParams, 1)
	limited := newBenchEnv(b, l, password.DefaultParams, 1)
	var tBare, tLimited time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := fmt.Sprintf(`{"emailAddress":"not-an-address-%d"}`, i)
		// Alternate which goes first so neither gains from warm caches.
		first, second, tFirst, tSecond := bare, limited, &tBare, &tLimited
		if i%2 == 0 {
			first, second, tFirst, tSecond = limited, bare, &tLimited, &tBare
		}
		t0 := time.Now()
		first.send(b, "POST", body, 400)
		t1 := time.Now()
		second.send(b, "POST", body, 400)
		*tFirst += t1.Sub(t0)
		*tSecond += time.Since(t1)
	}
	n := float64(i)
	b.ReportMetric(float64(tBare.Nanoseconds())/n, "bare-ns/req")
	b.ReportMetric(float64(tLimited.Nanoseconds())/n, "limited-ns/req")
	b.ReportMetric(float64((tLimited-tBare).Nanoseconds())/n, "limiter-ns/req")
}

// BenchmarkPatch_Success runs b.N complete resets (argon2id at the default
// m=19 MiB, t=2, p=1, one fsynced write, confirmation .eml) from concurrent
// clients, and reports resets/s next to the argon2id-only bound
// (GOMAXPROCS / time of one hash) measured in the same run.
func BenchmarkPatch_Success(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	e := newBenchEnv(b, nil, password.DefaultParams, procs)
	ctx := context.Background()

	// The bound, two ways: cores / time of one hash alone, and the rate of
	// bare hashing on every core at once (which also pays for memory
	// bandwidth shared between the cores), both in this run.
	h, _ := password.NewHasher(password.DefaultParams, procs, nil)
	const probes = 6
	start := time.Now()
	for i := 0; i < probes; i++ {
		if _, err := h.Hash(ctx, benchPW); err != nil {
			b.Fatal(err)
		}
	}
	perHash := time.Since(start) / probes
	bound := float64(procs) / perHash.Seconds()
	var hw sync.WaitGroup
	start = time.Now()
	for w := 0; w < procs; w++ {
		hw.Add(1)
		go func() {
			defer hw.Done()
			for i := 0; i < probes; i++ {
				h.Hash(ctx, benchPW)
			}
		}()
	}
	hw.Wait()
	parallelBound := float64(procs*probes) / time.Since(start).Seconds()

	// One user with one token per reset, stored as the server would.
	bodies := make([]string, b.N)
	for i := range bodies {
		email := fmt.Sprintf("user%d@example.com", i)
		if _, err := e.db.CreateUser(ctx, safereset.User{Email: email, PasswordHash: "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"}); err != nil {
			b.Fatal(err)
		}
		tok := fmt.Sprintf("%032x", i+1)
		rt := safereset.ResetToken{Hash: sha256.Sum256([]byte(tok)), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if _, err := e.db.RequestReset(ctx, safereset.NormalizeEmail(email), rt, 3, func(u safereset.User) (safereset.Message, time.Time, error) {
			return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "s", Text: "t"}, rt.ExpiresAt, nil
		}); err != nil {
			b.Fatal(err)
		}
		raw, _ := json.Marshal(map[string]string{"emailAddress": email, "password": benchPW, "passwordVerify": benchPW, "token": tok})
		bodies[i] = string(raw)
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	t0 := time.Now()
	for w := 0; w < 4*procs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				e.send(b, "PATCH", bodies[i], http.StatusNoContent)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "resets/s")
	b.ReportMetric(bound, "bound-resets/s")
	b.ReportMetric(100*rate/bound, "%-of-bound")
	b.ReportMetric(parallelBound, "parallel-hash/s")
	b.ReportMetric(100*rate/parallelBound, "%-of-parallel-hash")
	b.ReportMetric(float64(perHash.Microseconds())/1000, "ms/hash")
}
