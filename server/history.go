package server

import (
	"context"
	"errors"

	"github.com/safereset/safereset"
)

// reusedPassword reports whether pw matches the user's current hash or
// one of the previous hashes --password-history keeps (SPEC §2.4, §11).
// It runs only for a request carrying the live token of its address and
// after every cheap rule held, so a guess never costs a verify; each
// comparison is one argon2id or bcrypt verify in a hashing slot. A user
// deleted since the token check is not a reuse: the store's re-check of
// the token then refuses the reset.
func reusedPassword(ctx context.Context, d *Deps, emailKey, pw string) (bool, error) {
	if d.PasswordHistory <= 0 {
		return false, nil
	}
	u, err := d.Store.UserByEmail(ctx, emailKey)
	if errors.Is(err, safereset.ErrUserNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	hashes := append([]string{u.PasswordHash}, u.PasswordHistory...)
	hashes = hashes[:min(len(hashes), safereset.ClampPasswordHistory(d.PasswordHistory))]
	for _, phc := range hashes {
		if phc == "" {
			continue
		}
		ok, err := d.Hasher.Verify(ctx, pw, phc)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}
