package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/clientip"
	"github.com/safereset/safereset/metrics"
)

// RangeSource answers range queries from the exact breach store
// (breach.Exact implements it).
type RangeSource interface {
	// AppendRange appends the Pwned Passwords answer for a 20-bit prefix:
	// "SUFFIX:COUNT" lines joined by CRLF, padded with random ":0" lines to
	// at least padTo lines when padTo > 0.
	AppendRange(dst []byte, prefix uint32, padTo int) ([]byte, int, error)
	// Tag identifies the data set; it changes whenever any range may have.
	Tag() string
}

// RangeDeps are what the range API needs.
type RangeDeps struct {
	Source RangeSource
	// Limiter applies the per-IP limit of safereset.RouteRange; nil disables it.
	Limiter  safereset.Limiter
	ClientIP clientip.Resolver
	Metrics  *metrics.Metrics // nil ok
	Logger   *slog.Logger
	Now      func() time.Time
	// Ready returns why the range API is not ready (nil: ready).
	Ready         func() []string
	MaxConnsPerIP int
}

// Range API answers. The texts of the bad-prefix and NTLM answers follow
// api.pwnedpasswords.com's.
const (
	// RangePadTo is the fewest lines a padded answer has.
	RangePadTo = 800
	// rangePadSpread is how many more lines a padded answer may get, at
	// random, as the Pwned Passwords API varies it (800 to 1,000).
	rangePadSpread = 201
	// RangeCacheControl lets caches keep a range for a day; a rebuilt
	// store changes the ETag, so a revalidation sees it.
	RangeCacheControl = "public, max-age=86400"

	msgBadPrefix = "The hash prefix was not in a valid format"
	msgNTLM      = "NTLM hashes are not available from this server"
	msgBadMode   = "The mode parameter must be sha1 when given"
	msgLimited   = "Rate limit is exceeded. Try again later."
	msgError     = "The range could not be read"
)

// NewRange returns the range API app (--range-addr): GET /range/{prefix}
// compatible with the Pwned Passwords API, and /readyz.
func NewRange(d RangeDeps) (*fiber.App, error) {
	if d.Source == nil {
		return nil, errors.New("server: range API needs a source")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	app := fiber.New(fiberConfig(0, rangeErrors(d.Logger)))
	app.Server().MaxConnsPerIP = d.MaxConnsPerIP
	app.Use(recoverPanic())
	app.Get("/range/:prefix", handleRange(&d))
	app.Get("/readyz", handleRangeReadyz(&d))
	return app, nil
}

// rangeErrors is the range listener's one error handler: the same as the
// other listeners' (causes logged once, never sent), rendering a one-line
// text body as the Pwned Passwords API does.
func rangeErrors(logger *slog.Logger) fiber.ErrorHandler {
	return errorHandler(logger, renderRange, func(c *fiber.Ctx) error {
		return c.SendStatus(fiber.StatusRequestEntityTooLarge)
	})
}

func renderRange(c *fiber.Ctx, e *HTTPError) error {
	status, msg := e.Code, e.Msg
	if status == 0 {
		status = fiber.StatusInternalServerError
	}
	if msg == "" {
		msg = msgError
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.Status(status).SendString(msg)
}

// rangeFail is a range API answer: status, a fixed one-line message, and
// the cause to log (nil for a bad request).
func rangeFail(status int, msg string, cause error) error {
	return &HTTPError{Code: status, Msg: msg, Err: cause}
}

func handleRangeReadyz(d *RangeDeps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		c.Set(fiber.HeaderCacheControl, "no-store")
		if d.Ready != nil {
			if reasons := d.Ready(); len(reasons) > 0 {
				return c.Status(fiber.StatusServiceUnavailable).SendString("not ready: " + strings.Join(reasons, "; "))
			}
		}
		return c.SendString("ready")
	}
}

// parseRangePrefix accepts 5 hex digits in either case, as the Pwned
// Passwords API does.
func parseRangePrefix(s string) (uint32, bool) {
	if len(s) != 5 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 32)
	return uint32(v), err == nil
}

func handleRange(d *RangeDeps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		padded := strings.EqualFold(c.Get("Add-Padding"), "true")
		text := func(status int, result, msg string, cause error) error {
			d.Metrics.RangeRequest(result, padded, time.Since(start).Seconds())
			return rangeFail(status, msg, cause)
		}
		if d.Limiter != nil {
			res, err := d.Limiter.Take(c.UserContext(), safereset.RouteRange, safereset.LimitIP, clientIP(c, d.ClientIP))
			if err != nil {
				return text(fiber.StatusInternalServerError, metrics.RangeError, msgError, fmt.Errorf("range: ratelimit: %w", err))
			}
			if res.Reached {
				d.Metrics.RateLimited(safereset.RouteRange, safereset.LimitIP)
				retry := max(int64(res.Reset.Sub(d.Now()).Seconds()+0.999), 1)
				c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(retry, 10))
				return text(fiber.StatusTooManyRequests, metrics.RangeLimited, msgLimited, nil)
			}
		}
		prefix, ok := parseRangePrefix(c.Params("prefix"))
		if !ok {
			return text(fiber.StatusBadRequest, metrics.RangeBadRequest, msgBadPrefix, nil)
		}
		switch mode := c.Query("mode"); {
		case strings.EqualFold(mode, "ntlm"):
			return text(fiber.StatusBadRequest, metrics.RangeBadRequest, msgNTLM, nil)
		case mode != "" && !strings.EqualFold(mode, "sha1"):
			return text(fiber.StatusBadRequest, metrics.RangeBadRequest, msgBadMode, nil)
		}

		// One tag per prefix and data set. A padded answer has the same
		// real lines but random padding, so it gets a weak tag of its own.
		etag := `"` + d.Source.Tag() + "-" + strconv.FormatUint(uint64(prefix), 16) + `"`
		if padded {
			etag = "W/" + etag[:len(etag)-1] + `-p"`
		}
		c.Set(fiber.HeaderCacheControl, RangeCacheControl)
		c.Set(fiber.HeaderETag, etag)
		c.Set(fiber.HeaderVary, "Add-Padding")
		if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagMatch(inm, etag) {
			d.Metrics.RangeRequest(metrics.RangeNotModified, padded, time.Since(start).Seconds())
			return c.SendStatus(fiber.StatusNotModified)
		}
		padTo := 0
		if padded {
			padTo = RangePadTo + rand.IntN(rangePadSpread)
		}
		// The answer is rendered straight into the response's own pooled
		// body buffer and handed back: no copy of its 35 KB.
		resp := c.Response()
		body, _, err := d.Source.AppendRange(resp.SwapBody(nil)[:0], prefix, padTo)
		resp.SwapBody(body)
		if err != nil {
			resp.ResetBody()
			resp.Header.Del(fiber.HeaderETag)
			resp.Header.Del(fiber.HeaderCacheControl)
			return text(fiber.StatusInternalServerError, metrics.RangeError, msgError, fmt.Errorf("range: read: %w", err))
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlain)
		d.Metrics.RangeRequest(metrics.RangeOK, padded, time.Since(start).Seconds())
		return nil
	}
}

// etagMatch applies If-None-Match's weak comparison: "*", or any listed
// tag equal to etag once a W/ prefix is ignored on both.
func etagMatch(header, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// RangeServer is the range API on its own listener (--range-addr).
type RangeServer struct {
	app  *fiber.App
	addr net.Addr
	errc chan error
}

// NewRangeServer builds the range API; Listen starts it.
func NewRangeServer(d RangeDeps) (*RangeServer, error) {
	app, err := NewRange(d)
	if err != nil {
		return nil, err
	}
	return &RangeServer{app: app, errc: make(chan error, 1)}, nil
}

// Listen binds addr and serves in the background; a failure of the
// listener later arrives on Err.
func (s *RangeServer) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("range listener: %w", err)
	}
	s.addr = ln.Addr()
	go func() {
		if err := s.app.Listener(ln); err != nil {
			s.errc <- fmt.Errorf("range listener: %w", err)
		}
	}()
	return nil
}

// Addr is the bound address, after Listen.
func (s *RangeServer) Addr() net.Addr { return s.addr }

// Err delivers a listener failure.
func (s *RangeServer) Err() <-chan error { return s.errc }

// Shutdown stops taking requests and waits for those in flight until ctx
// is done.
func (s *RangeServer) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }
