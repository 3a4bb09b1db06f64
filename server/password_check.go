package server

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
)

// handlePasswordCheck is POST /api/v1/password/check (SPEC §13): 204 when
// the PATCH route would accept the password, else 400 with the codes it
// would give for it. It runs the PATCH route's own steps, breachCheck and
// addPasswordCodes, so the two apply one policy. emailAddress is
// optional; when sent it must be a valid address (ER001, as the PATCH
// route says) and is used as the PATCH route uses it. Nothing is stored
// or charged to an address.
func handlePasswordCheck(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		body, ok := readBody(c)
		if !ok {
			return failWith(safereset.ER413)
		}
		f := decodeObject(body, fieldPassword, fieldEmail)
		pw := f[fieldPassword].str
		var codes safereset.Codes
		emailKey := ""
		if e, sent := f[fieldEmail]; sent {
			if e.str != "" && safereset.ValidEmail(e.str) {
				emailKey = safereset.NormalizeEmail(e.str)
			} else {
				codes.Add(safereset.ER001)
			}
		}
		var verdict *safereset.Verdict
		if passwordLengthOK(pw) {
			// The full check, strength estimate included, as for a PATCH
			// carrying a live token: this answer is the verdict itself.
			v, err := breachCheck(c.UserContext(), d, pw, emailKey, true)
			if err != nil {
				// Fail closed: a password that could not be checked is not
				// said to be acceptable.
				return internal(fmt.Errorf("password check: breach check: %w", err))
			}
			verdict = &v
		}
		addPasswordCodes(pw, verdict, &codes)
		if len(codes) > 0 {
			return fail(codes)
		}
		setCodes(c, nil)
		c.Status(fiber.StatusNoContent)
		return nil
	}
}
