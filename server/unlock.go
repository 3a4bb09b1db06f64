package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
)

// handleUserUnlock is POST /admin/v1/users/unlock {"emailAddress"}: lifts
// a "this wasn't me" lock, so the account gets reset tokens again. Like
// delete, the address travels in the body, never in a logged path. An
// account that is not locked is answered the same 200.
func handleUserUnlock(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		_, key, err := adminEmailKey(c)
		if err != nil {
			return err
		}
		u, err := d.Store.UnlockAccount(c.UserContext(), key,
			userChange(c, d, safereset.AuditAccountUnlocked, safereset.EventAccountUnlocked))
		if err != nil {
			return userStoreFail("unlock user", err)
		}
		d.Logger.Info("user unlocked", "request_id", requestIDOf(c), "user_id", u.ID)
		if d.Events != nil {
			d.NotifyOutbox() // account.unlocked is queued
		}
		return c.JSON(userView(u))
	}
}
