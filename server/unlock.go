package server

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
)

// handleUserUnlock is POST /admin/v1/users/unlock {"emailAddress"}: lifts
// a "this wasn't me" lock, so the account gets reset tokens again. Like
// delete, the address travels in the body, never in a logged path. An
// account that is not locked is answered the same 200.
func handleUserUnlock(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in adminUser
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		if !safereset.ValidEmail(in.EmailAddress) {
			return badEmail()
		}
		u, err := d.Store.UnlockAccount(c.UserContext(), safereset.NormalizeEmail(in.EmailAddress),
			userChange(c, d, safereset.AuditAccountUnlocked, safereset.EventAccountUnlocked))
		switch {
		case errors.Is(err, safereset.ErrUserNotFound):
			return adminFail(fiber.StatusNotFound, "no user with that address")
		case err != nil:
			return internal(fmt.Errorf("admin: unlock user: %w", err))
		}
		d.Logger.Info("user unlocked", "request_id", requestIDOf(c), "user_id", u.ID)
		if d.Events != nil {
			d.NotifyOutbox() // account.unlocked is queued
		}
		return c.JSON(userView(u))
	}
}
