package main

import (
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// serveBare is the baseline: Fiber with the server's timeouts and limits and
// nothing else, answering every request with a JSON 400 whose body has the
// size the query asks for (?n=BYTES), so it writes what safereset writes.
// It is the framework's own ceiling on this machine.
func serveBare(addr string) error {
	var bodies sync.Map // size -> []byte
	body := func(n int) []byte {
		if b, ok := bodies.Load(n); ok {
			return b.([]byte)
		}
		const head, tail = `{"errors":{"ER000":{"code":"ER000","message":"`, `","solution":""}}}`
		pad := max(n-len(head)-len(tail), 0)
		b := []byte(head + strings.Repeat("x", pad) + tail)
		bodies.Store(n, b)
		return b
	}
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		BodyLimit:             16 << 10,
		CaseSensitive:         true,
		StrictRouting:         true,
	})
	app.Get("/ready", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	app.Use(func(c *fiber.Ctx) error {
		_ = c.Body()
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Status(fiber.StatusBadRequest).Send(body(c.QueryInt("n", 200)))
	})
	return app.Listen(addr)
}
