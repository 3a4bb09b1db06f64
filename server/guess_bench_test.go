package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/loadgen"
	"github.com/safereset/safereset/password"
)

var (
	guessPhase = flag.Duration("guess.phase", 2*time.Second, "length of each load phase of BenchmarkPatch_GuessVsBareFiber")
	guessConns = flag.Int("guess.conns", 32, "keep-alive connections of the closed-loop phases of BenchmarkPatch_GuessVsBareFiber")
)

// BenchmarkPatch_GuessVsBareFiber measures, over real loopback HTTP, how
// cheaply the public app refuses a guess: a PATCH with a wrong token and a
// strong password, and one whose confirmation also differs. Each case's
// peak rate (closed loop, -guess.conns keep-alive connections) is shown as
// a percentage of a bare Fiber endpoint answering a JSON 400, measured in
// the same run before and after the cases (their mean is the reference, so
// load from other processes hits both alike); then each case runs open loop
// at 80% of its own peak and reports p50 and p99 latency, measured from each
// request's scheduled start. A validation error (short password) is the
// reference for what a rejection costs without any token work. Run with
// -benchtime=1x: one measurement per invocation.
func BenchmarkPatch_GuessVsBareFiber(b *testing.B) {
	e := newBenchEnv(b, nil, password.DefaultParams, runtime.GOMAXPROCS(0))
	ctx := context.Background()
	const email = "jane@example.com"
	if _, err := e.db.CreateUser(ctx, safereset.User{Email: email, PasswordHash: "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"}); err != nil {
		b.Fatal(err)
	}
	// The address has a live token, as an attacked account would.
	rt := safereset.ResetToken{Hash: sha256.Sum256([]byte(strings.Repeat("1", 32))), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if _, err := e.db.RequestReset(ctx, email, rt, 3, func(u safereset.User) (safereset.Message, time.Time, error) {
		return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "s", Text: "t"}, rt.ExpiresAt, nil
	}); err != nil {
		b.Fatal(err)
	}
	appAddr := listen(b, e.app)
	bare := fiber.New(fiber.Config{DisableStartupMessage: true})
	bare.Patch("/api/v1/user/reset-password", func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"errors": fiber.Map{"ER352": fiber.Map{"code": "ER352",
			"message": "Password reset token is invalid.", "solution": "Provide a valid password reset token or request a new one."}}})
	})
	bareAddr := listen(b, bare)

	liveBody := func(pw, verify string) []byte {
		raw, _ := json.Marshal(map[string]string{"emailAddress": email, "password": pw, "passwordVerify": verify, "token": strings.Repeat("1", 32)})
		return raw
	}
	body := func(pw, verify string) []byte {
		raw, _ := json.Marshal(map[string]string{"emailAddress": email, "password": pw, "passwordVerify": verify, "token": strings.Repeat("2", 32)})
		return raw
	}
	cases := []struct {
		name  string
		body  []byte
		codes string
	}{
		{"validation", body("short", "short"), "ER122,ER352"},
		{"wrongtoken-strong", body(benchPW, benchPW), "ER352"},
		{"mismatch-strong", body(benchPW, benchPW+"x"), "ER350,ER352"},
		// The owner's path, for comparison: with the live token the
		// strength estimate runs (what every guess used to cost).
		{"livetoken-mismatch-strong", liveBody(benchPW, benchPW+"x"), "ER350"},
	}
	for _, c := range cases {
		if got := codesOf(b, send(b, appAddr, e.key, c.body)); got != c.codes {
			b.Fatalf("%s answers %s, want %s: the benchmark would measure something else", c.name, got, c.codes)
		}
	}

	targets := []target{{name: "bare", addr: bareAddr, body: cases[0].body}}
	for _, c := range cases {
		targets = append(targets, target{name: c.name, addr: appAddr, key: e.key, body: c.body})
	}
	b.ResetTimer()
	for b.Loop() {
		// Peak rates in short alternating slices, so the load of other
		// processes on a shared machine hits the bare endpoint and each case
		// alike.
		const slices = 8
		for range slices {
			for i := range targets {
				targets[i].run(b, *guessPhase/slices)
			}
		}
		bareRate := targets[0].rate()
		b.ReportMetric(bareRate, "bare-req/s")
		fmt.Fprintf(os.Stdout, "\nbare Fiber JSON 400: %.0f req/s; %d connections, GOMAXPROCS %d, %d alternating slices of %v each\n",
			bareRate, *guessConns, runtime.GOMAXPROCS(0), slices, *guessPhase/slices)
		fmt.Fprintf(os.Stdout, "%-26s %10s %8s %12s %9s %9s\n", "case", "req/s", "%bare", "paced req/s", "p50 ms", "p99 ms")
		for _, t := range targets[1:] {
			rate := t.rate()
			got, p50, p99 := paced(b, t.addr, t.key, t.body, 0.8*rate)
			pct := 100 * rate / bareRate
			b.ReportMetric(rate, t.name+"-req/s")
			b.ReportMetric(pct, t.name+"-%bare")
			b.ReportMetric(p99.Seconds()*1000, t.name+"-p99-ms@80%")
			fmt.Fprintf(os.Stdout, "%-26s %10.0f %7.1f%% %12.0f %9.2f %9.2f\n", t.name, rate, pct, got, p50.Seconds()*1000, p99.Seconds()*1000)
		}
	}
}

// target is one endpoint and body under closed-loop load, with the
// requests answered and the time spent so far.
type target struct {
	name, addr, key string
	body            []byte
	n               int64
	took            time.Duration
}

func (t *target) rate() float64 { return float64(t.n) / t.took.Seconds() }

// run drives -guess.conns closed-loop clients for d.
func (t *target) run(b *testing.B, d time.Duration) {
	client := &fasthttp.HostClient{Addr: t.addr, MaxConns: *guessConns}
	var n atomic.Int64
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for range *guessConns {
		wg.Go(func() {
			req := newRequest(t.addr, t.key, t.body)
			resp := fasthttp.AcquireResponse()
			for time.Now().Before(stop) {
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusBadRequest {
					b.Errorf("%s: %v %d", t.name, err, resp.StatusCode())
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	t.n += n.Load()
	t.took += time.Since(start)
}

// listen serves app on a free loopback port until the benchmark ends.
func listen(b *testing.B, app *fiber.App) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go app.Listener(ln) //nolint:errcheck // returns when Shutdown closes it
	b.Cleanup(func() { app.Shutdown() })
	return ln.Addr().String()
}

func newRequest(addr, key string, body []byte) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://" + addr + "/api/v1/user/reset-password")
	req.Header.SetMethod(fasthttp.MethodPatch)
	req.Header.SetContentType("application/json")
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	req.SetBody(body)
	return req
}

func send(b *testing.B, addr, key string, body []byte) []byte {
	req := newRequest(addr, key, body)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := fasthttp.Do(req, resp); err != nil {
		b.Fatal(err)
	}
	return append([]byte(nil), resp.Body()...)
}

func codesOf(b *testing.B, body []byte) string {
	var env struct{ Errors map[string]any }
	if err := json.Unmarshal(body, &env); err != nil {
		b.Fatalf("not an envelope: %s", body)
	}
	var cs []string
	for c := range env.Errors {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	return strings.Join(cs, ",")
}

// paced sends requests open loop at rate per second for one phase and
// returns the rate achieved and the p50 and p99 latency from each
// request's scheduled time, so time spent queued behind a slow answer
// counts.
func paced(b *testing.B, addr, key string, body []byte, rate float64) (float64, time.Duration, time.Duration) {
	// The open loop runs on internal/loadgen rather than 64 sleeping
	// fasthttp workers: it costs the shared cores a fraction of the CPU,
	// and counts each request from its scheduled time the same way.
	hdr := http.Header{"Content-Type": {"application/json"}}
	if key != "" {
		hdr.Set("X-Api-Key", key)
	}
	req, _, err := loadgen.Encode("PATCH", "http://"+addr+"/api/v1/user/reset-password", hdr, body)
	if err != nil {
		b.Fatal(err)
	}
	r, err := loadgen.Run(loadgen.Config{Addr: addr, Requests: [][]byte{req}, Conns: 64, Rate: rate, Duration: *guessPhase, Want: fasthttp.StatusBadRequest})
	if err != nil {
		b.Fatal(err)
	}
	if r.Wrong > 0 {
		b.Errorf("%d of %d answers were not 400: %v", r.Wrong, r.N, r.Statuses)
	}
	return r.RPS(), r.Lat.Quantile(0.50), r.Lat.Quantile(0.99)
}
