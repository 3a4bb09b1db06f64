package server

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/clientip"
)

// The rate limits of the reset routes (SPEC §7): per client IP before
// authentication, per email address once the body is read, and the
// X-RateLimit-* headers of the tightest bucket a request was counted in.

// unavailable answers a request that a store failure stopped (the
// database or the limiter's store is down): refused, never let through
// unlimited or half done. A token request gets ER354, as when queuing its
// mail fails; a reset ER999.
func unavailable(c *fiber.Ctx, cause error) error {
	if routeOf(c) == safereset.RouteRequest {
		return failCause(safereset.ER354, cause)
	}
	return internal(cause)
}

// limitIP applies the per-IP limit of route; it runs before authentication.
func limitIP(d *Deps, route safereset.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ip := clientIP(c, d.ClientIP)
		if d.Limiter == nil {
			return c.Next()
		}
		res, err := d.Limiter.Take(c.UserContext(), route, safereset.LimitIP, ip)
		if err != nil {
			return unavailable(c, fmt.Errorf("ratelimit: ip: %w", err))
		}
		ls := limitsOf(c)
		ls.add(res)
		if res.Reached {
			return limited(c, d, ls, route, safereset.LimitIP)
		}
		return c.Next()
	}
}

const localsLimits = "safereset.limits"

func limitsOf(c *fiber.Ctx) *limitState {
	if ls, ok := c.Locals(localsLimits).(*limitState); ok {
		return ls
	}
	ls := &limitState{}
	c.Locals(localsLimits, ls)
	return ls
}

func limited(c *fiber.Ctx, d *Deps, ls *limitState, route safereset.Route, kind safereset.LimitKind) error {
	d.Metrics.RateLimited(route, kind)
	ls.setHeaders(c, d.Now())
	return failWith(safereset.ER429)
}

// limitEmail counts the request against the per-email bucket of route.
// It returns true when the request has been answered with ER429.
func limitEmail(c *fiber.Ctx, d *Deps, route safereset.Route, email string) (bool, error) {
	ls := limitsOf(c)
	// Only a valid address has a bucket: an invalid one is refused anyway
	// and changes nothing, and bucketing it would let garbage addresses
	// grow the limiter's memory.
	if d.Limiter != nil && email != "" && safereset.ValidEmail(email) {
		res, err := d.Limiter.Take(c.UserContext(), route, safereset.LimitEmail, email)
		if err != nil {
			return true, unavailable(c, fmt.Errorf("ratelimit: email: %w", err))
		}
		ls.add(res)
		if res.Reached {
			return true, limited(c, d, ls, route, safereset.LimitEmail)
		}
	}
	// Successful and failed answers alike carry the limit headers.
	ls.setHeaders(c, d.Now())
	return false, nil
}

// clientIP resolves (clientip.Resolver) and records the client address.
func clientIP(c *fiber.Ctx, r clientip.Resolver) string {
	if ip, ok := c.Locals(localsIP).(string); ok {
		return ip
	}
	peer := c.Context().RemoteIP()
	ip := r.ClientIP(peer, func(name string) []string { return headerValues(c, name, nil) })
	if ip == nil {
		ip = peer
	}
	s := ip.String()
	c.Locals(localsIP, s)
	return s
}

// limitState collects the rate-limit buckets a request was counted in, to
// report the tightest one in the X-RateLimit-* headers.
type limitState struct {
	have bool
	res  safereset.LimitResult
}

func (ls *limitState) add(r safereset.LimitResult) {
	if r.Limit == 0 {
		return
	}
	if !ls.have || r.Reached || (!ls.res.Reached && r.Remaining < ls.res.Remaining) {
		ls.res, ls.have = r, true
	}
}

func (ls *limitState) setHeaders(c *fiber.Ctx, now time.Time) {
	if !ls.have {
		return
	}
	r := ls.res
	c.Set("X-RateLimit-Limit", strconv.FormatInt(r.Limit, 10))
	c.Set("X-RateLimit-Remaining", strconv.FormatInt(max(r.Remaining, 0), 10))
	c.Set("X-RateLimit-Reset", strconv.FormatInt(r.Reset.Unix(), 10))
	if r.Reached {
		secs := int64(r.Reset.Sub(now).Seconds() + 0.999)
		c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(max(secs, 1), 10))
	}
}
