package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/safereset/safereset"
)

// Pinger is a dependency /readyz asks before calling the service ready: a
// non-nil error is one reason it is not. The reason shown is the error's
// text, unless the error is (or wraps) a *NotReady: then only its fixed
// Reason is shown and the cause goes to the log, so a driver's error text
// (addresses, user names, a server's message) never reaches the answer.
type Pinger interface {
	Ping(ctx context.Context) error
}

// NotReady is a readiness failure with a fixed public reason and a cause
// that is logged, never answered.
type NotReady struct {
	Reason string
	Err    error
}

func (e *NotReady) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *NotReady) Unwrap() error { return e.Err }

// PingerFunc adapts a function to Pinger.
type PingerFunc func(ctx context.Context) error

// Ping calls f.
func (f PingerFunc) Ping(ctx context.Context) error { return f(ctx) }

// Reloader is the breach filter being served: Info describes it, Reload
// swaps in the file at path ("" re-reads the current source) and keeps the
// old filter when the new one fails.
type Reloader interface {
	Reload(path string) error
	Info() safereset.FilterInfo
}

// Ops is what the ops listener needs beyond Deps.
type Ops struct {
	// AdminToken guards /admin/v1 (Authorization: Bearer <token>) when
	// AdminTokens is nil.
	AdminToken string
	// AdminTokens, when set, are the tokens /admin/v1 accepts, swapped
	// while serving (rotation, SIGHUP); it wins over AdminToken.
	AdminTokens *AdminTokens
	// RotateAdminToken generates a new admin token, persists it where the
	// server reads it at start, and returns it, for POST
	// /admin/v1/admin-token/rotate; nil (or ErrAdminTokenFixed) answers
	// 409: the token's source belongs to the operator.
	RotateAdminToken func() (string, error)
	// Metrics serves the Prometheus exposition.
	Metrics http.Handler
	// Ready are asked in order by /readyz; the service is ready when none
	// returns an error.
	Ready []Pinger
	// Breach is the served breach filter, shown on /readyz and swapped by
	// POST /admin/v1/breach/reload.
	Breach Reloader
	// IssueJWT mints a client token; nil when JWT support is off.
	IssueJWT func(subject string, ttl time.Duration) (string, error)
}

func (o *Ops) validate() error {
	if o.AdminTokens == nil {
		t, err := NewAdminTokens(o.AdminToken, nil)
		if err != nil {
			return err
		}
		o.AdminTokens = t
	}
	if o.Metrics == nil || o.Breach == nil {
		return errors.New("server: ops needs metrics and the breach filter")
	}
	return nil
}

func handleHealthz() fiber.Handler {
	return func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) }
}

func handleReadyz(o Ops, log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var reasons []string
		for _, p := range o.Ready {
			err := p.Ping(c.UserContext())
			if err == nil {
				continue
			}
			if nr := (*NotReady)(nil); errors.As(err, &nr) {
				log.Warn("not ready", slog.String("request_id", requestIDOf(c)), slog.String("reason", nr.Reason), slog.Any("cause", nr.Err))
				reasons = append(reasons, nr.Reason)
				continue
			}
			reasons = append(reasons, err.Error())
		}
		body := fiber.Map{"breachFilter": o.Breach.Info()}
		if len(reasons) > 0 {
			body["status"] = "not ready"
			body["reasons"] = reasons
			return c.Status(fiber.StatusServiceUnavailable).JSON(body)
		}
		body["status"] = "ready"
		return c.JSON(body)
	}
}

func handleMetrics(o Ops) fiber.Handler { return adaptor.HTTPHandler(o.Metrics) }
