package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/metrics"
)

const (
	localsRequestID = "safereset.request_id"
	localsClient    = "safereset.client"
	localsRoute     = "safereset.route"
	localsIP        = "safereset.ip"
)

// withRoute names the route for logs, metrics and limits.
func withRoute(r safereset.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Locals(localsRoute, r)
		return c.Next()
	}
}

func routeOf(c *fiber.Ctx) safereset.Route {
	if r, ok := c.Locals(localsRoute).(safereset.Route); ok {
		return r
	}
	return safereset.RouteOther
}

// requestID echoes a sane X-Request-Id from the client or makes one.
func requestID() fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := c.Get(fiber.HeaderXRequestID)
		if !saneRequestID(id) {
			id = newRequestID()
		} else {
			id = strings.Clone(id)
		}
		c.Locals(localsRequestID, id)
		c.Set(fiber.HeaderXRequestID, id)
		return c.Next()
	}
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestIDOf(c *fiber.Ctx) string {
	id, _ := c.Locals(localsRequestID).(string)
	return id
}

// accessLog writes one line per request and counts it in metrics. It runs
// outermost so it sees the final status, including recovered panics.
func accessLog(logger *slog.Logger, m *metrics.Metrics) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := c.Next()
		if err != nil {
			// Let the error handler write the response now so the status
			// and codes logged are the ones sent.
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
			err = nil
		}
		d := time.Since(start)
		status := c.Response().StatusCode()
		codes := codesOf(c)
		route := routeOf(c)
		client, _ := c.Locals(localsClient).(string)
		ip, _ := c.Locals(localsIP).(string)
		if ip == "" {
			ip = c.Context().RemoteIP().String()
		}
		codeStrs := make([]string, len(codes))
		for i, cd := range codes {
			codeStrs[i] = string(cd)
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		logger.LogAttrs(c.UserContext(), level, "request",
			slog.String("request_id", requestIDOf(c)),
			slog.String("method", c.Method()),
			slog.String("route", string(route)),
			slog.Int("status", status),
			slog.Any("codes", codeStrs),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("client", client),
			slog.String("ip", ip),
		)
		// Only the reset routes and the pages are counted: their codes are
		// the contract the security team alerts on.
		if route.Counted() {
			m.Response(route, status, codes, d)
			m.ClientRequest(route, client)
		} else if route.Page() {
			if len(codes) == 0 && status >= 400 {
				// A page's refusal without a catalog code (a forged or
				// unreadable form) is not an OK.
				codes = []safereset.Code{metrics.Other}
			}
			m.Response(route, status, codes, d)
		}
		return err
	}
}
