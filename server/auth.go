package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
)

// APIKeyPrefix starts every API key, so leaked keys are easy to grep for.
const APIKeyPrefix = "sr_"

// apiKeyLen is the length of a key: the prefix and 32 random bytes in
// unpadded base64url.
const apiKeyLen = len(APIKeyPrefix) + 43

// NewAPIKey returns a fresh key, its public id and the hash that is stored.
func NewAPIKey() (key, id string, hash [32]byte, err error) {
	var b [32]byte
	if _, err = rand.Read(b[:]); err != nil {
		return "", "", hash, err
	}
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	hash = sha256.Sum256([]byte(key))
	var idb [6]byte
	if _, err = rand.Read(idb[:]); err != nil {
		return "", "", hash, err
	}
	return key, "k_" + base64.RawURLEncoding.EncodeToString(idb[:]), hash, nil
}

func wellFormedAPIKey(k string) bool {
	if len(k) != apiKeyLen || !strings.HasPrefix(k, APIKeyPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(k[len(APIKeyPrefix):])
	return err == nil
}

// headerValues appends every value of the header name (case-insensitive)
// to vals, telling a header sent empty apart from one not sent at all.
// The caller's vals can have room for the usual one value on its stack.
func headerValues(c *fiber.Ctx, name string, vals []string) []string {
	c.Request().Header.VisitAll(func(k, v []byte) {
		if strings.EqualFold(string(k), name) {
			vals = append(vals, string(v))
		}
	})
	return vals
}

// authenticate decides who the client is before the body is read
// (SPEC §2.2). A failure answers with only its auth codes.
func authenticate(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var keyBuf, authBuf [1]string
		keys := headerValues(c, "X-Api-Key", keyBuf[:0])
		auths := headerValues(c, fiber.HeaderAuthorization, authBuf[:0])
		key, keySent := single(keys)
		auth, authSent := single(auths)
		hasKey := strings.TrimSpace(key) != "" || len(keys) > 1
		hasAuth := strings.TrimSpace(auth) != "" || len(auths) > 1

		var codes safereset.Codes
		switch {
		case hasKey && hasAuth:
			codes.Add(safereset.ER803)
		case hasAuth:
			subject, code := verifyBearer(c, d, auths)
			if code != "" {
				codes.Add(code)
				break
			}
			c.Locals(localsClient, "jwt:"+clientName(d.LabelKey, subject))
			return c.Next()
		case hasKey:
			name, code, err := lookupAPIKey(c, d, keys)
			if err != nil {
				return unavailable(c, fmt.Errorf("auth: look up api key: %w", err))
			}
			if code != "" {
				codes.Add(code)
				break
			}
			c.Locals(localsClient, "apikey:"+name)
			return c.Next()
		case keySent && !authSent:
			codes.Add(safereset.ER806)
		default:
			codes.Add(safereset.ER802)
			codes.Add(safereset.ER806)
		}
		return fail(codes)
	}
}

// single returns the one value of a header and whether it was sent.
// Several values are returned as "" with sent=true; callers treat them as
// invalid rather than picking one.
func single(vals []string) (string, bool) {
	switch len(vals) {
	case 0:
		return "", false
	case 1:
		return vals[0], true
	default:
		return "", true
	}
}

// bearerToken returns the token of an Authorization value "Bearer <token>":
// the scheme in any letter case, one or more spaces, then a token with no
// white space. Client JWTs and the admin token are both read with it.
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

func verifyBearer(c *fiber.Ctx, d *Deps, auths []string) (subject string, code safereset.Code) {
	if len(auths) != 1 || d.Verifier == nil {
		return "", safereset.ER800
	}
	token, ok := bearerToken(auths[0])
	if !ok {
		return "", safereset.ER800
	}
	subject, err := d.Verifier.Verify(token)
	switch {
	case err == nil:
		return strings.Clone(subject), ""
	case errors.Is(err, safereset.ErrAuthExpired):
		return "", safereset.ER801
	default:
		d.Logger.Debug("bearer token rejected", "request_id", requestIDOf(c), "reason", err.Error())
		return "", safereset.ER800
	}
}

func lookupAPIKey(c *fiber.Ctx, d *Deps, keys []string) (name string, code safereset.Code, err error) {
	if len(keys) != 1 || !wellFormedAPIKey(keys[0]) {
		return "", safereset.ER805, nil
	}
	// Looked up by hash: no comparison of the secret itself, so no timing
	// side channel on its bytes.
	k, err := d.Store.APIKeyByHash(c.UserContext(), sha256.Sum256([]byte(keys[0])))
	switch {
	case errors.Is(err, safereset.ErrAPIKeyNotFound):
		return "", safereset.ER805, nil
	case err != nil:
		return "", "", err
	case k.Revoked():
		d.Logger.Info("revoked api key used", slog.String("request_id", requestIDOf(c)), slog.String("key_id", k.ID))
		return "", safereset.ER805, nil
	}
	return k.Name, "", nil
}
