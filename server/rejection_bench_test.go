package server_test

import (
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset/password"
)

// BenchmarkPatch_RejectionPaths runs each PATCH rejection that costs the
// server the most CPU — a validation error, a breached password, a wrong
// token with a strong password — next to a bare Fiber endpoint answering
// the same 400 body, all through app.Test so the harness cost is alike.
//
//	go test ./server -run '^$' -bench 'Patch_RejectionPaths' -count 6
func BenchmarkPatch_RejectionPaths(b *testing.B) {
	e := newBenchEnv(b, nil, password.DefaultParams, runtime.GOMAXPROCS(0))
	tok := strings.Repeat("2", 32)
	body := func(pw, verify string) string {
		return `{"emailAddress":"jane@example.com","password":"` + pw + `","passwordVerify":"` + verify + `","token":"` + tok + `"}`
	}
	paths := []struct{ name, body string }{
		{"Validation", body("short", "short")},
		{"Breached", body("password1", "password1")},
		{"WrongToken", body(benchPW, benchPW)},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.send(b, "PATCH", p.body, 400)
			}
		})
	}
	b.Run("Bare", func(b *testing.B) {
		answer := []byte(`{"errors":{"ER352":{"code":"ER352","message":"x","solution":"y"}}}`)
		app := fiber.New()
		app.Patch("/api/v1/user/reset-password", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Status(400).Send(answer)
		})
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest("PATCH", "/api/v1/user/reset-password", strings.NewReader(paths[2].body))
			req.Header.Set("X-Api-Key", e.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := app.Test(req, -1)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
