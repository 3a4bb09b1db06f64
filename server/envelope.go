package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
)

// envelope is the seed's error body: an object keyed by code.
type envelope struct {
	Errors map[safereset.Code]safereset.Entry `json:"errors"`
}

func newEnvelope(codes safereset.Codes) envelope {
	env := envelope{Errors: make(map[safereset.Code]safereset.Entry, len(codes))}
	for c := range codes {
		e, ok := safereset.Lookup(c)
		if !ok {
			e, _ = safereset.Lookup(safereset.ER999)
		}
		env.Errors[e.Code] = e
	}
	return env
}

// writeEnvelope answers with every code in codes at once, under the status
// the catalog gives them, and records the codes for logs and metrics.
func writeEnvelope(c *fiber.Ctx, codes safereset.Codes) error {
	sorted := setCodes(c, codes)
	body, err := encodeEnvelope(codes, sorted)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(codes.Status()).Send(body)
}

const localsCodes = "safereset.codes"

// setCodes records the answer's codes, sorted, for the access log and the
// metrics, and returns them in that order.
func setCodes(c *fiber.Ctx, codes safereset.Codes) []safereset.Code {
	sorted := codes.Sorted()
	c.Locals(localsCodes, sorted)
	return sorted
}

func codesOf(c *fiber.Ctx) []safereset.Code {
	cs, _ := c.Locals(localsCodes).([]safereset.Code)
	return cs
}
