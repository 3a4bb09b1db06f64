package server

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
)

// actorOf returns who makes the change request c asks for: the client
// authenticate (or adminAuth) recorded, the request id, and the client
// address masked.
func actorOf(c *fiber.Ctx, d *Deps) safereset.Actor {
	name, _ := c.Locals(localsClient).(string)
	if name == "" {
		name = "anonymous"
	}
	return safereset.NewActor(name, requestIDOf(c), clientIP(c, d.ClientIP))
}

// userChange returns the effects of c's change to a user: the audit line
// and, when ev is set, the event.
func userChange(c *fiber.Ctx, d *Deps, action safereset.AuditAction, ev safereset.EventType) safereset.EffectsFunc {
	return safereset.UserEffects(d.Events, actorOf(c, d), action, ev)
}

// auditOnly returns effects holding one audit line of c's change.
func auditOnly(c *fiber.Ctx, d *Deps, action safereset.AuditAction, target string) safereset.Effects {
	return safereset.Effects{Audit: []safereset.AuditEntry{actorOf(c, d).Audit(action, target)}}
}

// record writes the effects of a change that happened outside the store
// (a JWT issued, a filter reloaded). The change stands either way, so a
// failure is logged and counted, not answered.
func record(ctx context.Context, d *Deps, action safereset.AuditAction, reqID string, e safereset.Effects) {
	if err := d.Store.Record(ctx, e); err != nil {
		d.Metrics.AuditFailure()
		d.Logger.Error("audit: record failed", "request_id", reqID, "action", string(action), "error", err.Error())
		return
	}
	if len(e.Outbox) > 0 && d.NotifyOutbox != nil {
		d.NotifyOutbox()
	}
}

// refusalAudit writes the audit line of a refused admin token, at most
// refusalBurst a second across all clients: a flood of wrong tokens is
// told by a few lines (and the response metrics), not by a database
// grown without bound.
type refusalAudit struct {
	mu     sync.Mutex
	second int64
	n      int
}

const refusalBurst = 5

func (r *refusalAudit) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := now.Unix(); s != r.second {
		r.second, r.n = s, 0
	}
	r.n++
	return r.n <= refusalBurst
}

// maxAuditPage bounds one page of GET /admin/v1/audit.
const maxAuditPage = 1000

// handleAudit is GET /admin/v1/audit?since=RFC3339&after=ID&limit=N: the
// audit entries at or after since with an ID above after, oldest first.
// The answer's "next" is the after value of the next page (0 when this
// page is the last one so far).
func handleAudit(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var q safereset.AuditQuery
		if s := c.Query("since"); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return adminFail(fiber.StatusBadRequest, "since must be an RFC 3339 time such as 2026-12-01T00:00:00Z")
			}
			q.Since = t
		}
		after, err := queryUint(c, "after", 0, 1<<63)
		if err != nil {
			return adminFail(fiber.StatusBadRequest, "after must be an audit entry id (a non-negative integer)")
		}
		limit, err := queryUint(c, "limit", 100, maxAuditPage)
		if err != nil || limit == 0 {
			return adminFail(fiber.StatusBadRequest, fmt.Sprintf("limit must be 1 to %d", maxAuditPage))
		}
		q.After, q.Limit = after, int(limit)
		entries, err := d.Store.AuditLog(c.UserContext(), q)
		if err != nil {
			return internal(fmt.Errorf("admin: audit log: %w", err))
		}
		var next uint64
		if len(entries) == q.Limit {
			next = entries[len(entries)-1].ID
		}
		if entries == nil {
			entries = []safereset.AuditEntry{}
		}
		return c.JSON(fiber.Map{"entries": entries, "next": next})
	}
}

// queryUint parses an optional unsigned query parameter, at most max.
func queryUint(c *fiber.Ctx, name string, def, max uint64) (uint64, error) {
	s := c.Query(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("bad %s", name)
	}
	return v, nil
}
