package server

import (
	"context"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/password"
)

// passwordRules applies the new-password rules (SPEC §2.4) to pw and adds
// what fails to codes: ER004 (missing), ER122 / ER123 (length after
// NFKC), ER349 (breached or weak, judged with the normalized address
// emailKey as a user input when it is not empty). The PATCH route and
// POST /api/v1/password/check both call it, so they cannot disagree. It
// returns a cause only when the check itself failed; the caller answers
// ER999 and nothing is accepted (fail closed).
func passwordRules(ctx context.Context, d *Deps, pw field, emailKey string, codes *safereset.Codes) error {
	if !pw.ok() {
		codes.Add(safereset.ER004)
		return nil
	}
	switch n := password.Length(pw.str); {
	case n < MinPasswordLen:
		codes.Add(safereset.ER122)
		return nil
	case n > MaxPasswordLen:
		codes.Add(safereset.ER123)
		return nil
	}
	// The normalized (trimmed) address: with the raw string, a leading
	// space made the local part " alicia" and let "alicia-…" through. The
	// checker derives the local part.
	inputs := []string{}
	if emailKey != "" {
		inputs = append(inputs, emailKey)
	}
	var v safereset.Verdict
	var err error
	if derr := d.Hasher.Do(ctx, func() { v, err = d.Breach.Check(pw.str, inputs) }); derr != nil {
		err = derr
	}
	switch {
	case err != nil:
		d.Metrics.BreachCheck(metrics.BreachError)
		return err
	case v.Breached:
		d.Metrics.BreachCheck(metrics.BreachBreached)
		codes.Add(safereset.ER349)
	case v.Weak:
		d.Metrics.BreachCheck(metrics.BreachWeak)
		codes.Add(safereset.ER349)
	default:
		d.Metrics.BreachCheck(metrics.BreachOK)
	}
	return nil
}

// handlePasswordCheck is POST /api/v1/password/check (SPEC §13): 204 when
// the PATCH route would accept the password, else 400 with the codes it
// would give for it. emailAddress is optional; when sent it must be a
// valid address (ER001, as the PATCH route says) and is used as the
// PATCH route uses it. Nothing is stored or charged to an address.
func handlePasswordCheck(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		body, ok := readBody(c)
		if !ok {
			return failWith(safereset.ER413)
		}
		f, _ := decodeObject(body, fieldPassword, fieldEmail)
		pw, email := f[fieldPassword], f[fieldEmail]
		var codes safereset.Codes
		emailKey := ""
		if _, sent := f[fieldEmail]; sent {
			if email.ok() && safereset.ValidEmail(email.str) {
				emailKey = safereset.NormalizeEmail(email.str)
			} else {
				codes.Add(safereset.ER001)
			}
		}
		if err := passwordRules(c.UserContext(), d, pw, emailKey, &codes); err != nil {
			return internal(fmt.Errorf("password check: breach check: %w", err))
		}
		if len(codes) > 0 {
			return fail(codes)
		}
		setCodes(c, nil)
		c.Status(fiber.StatusNoContent)
		return nil
	}
}
