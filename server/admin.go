package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/jwtauth"
	"github.com/safereset/safereset/password"
)

// adminError is the admin API's error body. The admin API is for operators
// and the CLI, not the public contract, so it says what went wrong in words.
type adminError struct {
	Error string `json:"error"`
	// Code is the catalog code where one applies (ER001 for an address
	// ValidEmail refuses), so scripts need not match on the text.
	Code safereset.Code `json:"code,omitempty"`
}

// badEmail is the admin API's answer for an address ValidEmail refuses:
// 400 with the public API's code for it.
func badEmail() *HTTPError {
	return &HTTPError{Code: fiber.StatusBadRequest, Msg: msgUserEmail, Codes: safereset.Codes{safereset.ER001: {}}}
}

// adminAuth checks the admin bearer token in constant time. A refusal is
// audited (never the token offered).
func adminAuth(d *Deps, tokens *AdminTokens) fiber.Handler {
	var refusals refusalAudit
	return func(c *fiber.Ctx) error {
		h := c.Get(fiber.HeaderAuthorization)
		got, ok := bearerToken(h)
		// Stricter than client JWTs: exactly one space after the scheme.
		ok = ok && len(h) == len("Bearer ")+len(got)
		if !tokens.Valid(got) || !ok {
			if refusals.allow(d.Now()) {
				record(c.UserContext(), d, safereset.AuditAdminTokenRefused, requestIDOf(c), auditOnly(c, d, safereset.AuditAdminTokenRefused, ""))
			}
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="safereset-admin"`)
			return adminFail(fiber.StatusUnauthorized, "admin token missing or wrong")
		}
		c.Locals(localsClient, "admin")
		return c.Next()
	}
}

// adminUser is the body of the user routes and one line of an import.
type adminUser struct {
	EmailAddress string `json:"emailAddress"`
	Password     string `json:"password,omitempty"`
	PasswordHash string `json:"passwordHash,omitempty"`
	// Locale is the language of the user's mails; empty: --default-locale.
	Locale string `json:"locale,omitempty"`
}

func decodeAdmin(c *fiber.Ctx, v any) error {
	dec := json.NewDecoder(bytes.NewReader(rawBody(c)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return adminFail(fiber.StatusBadRequest, msgBodyNotObject)
	}
	return nil
}

// adminEmailKey decodes an adminUser body whose emailAddress must be a
// valid address (ER001 otherwise), and returns it with that address's
// email key: the start of every route that acts on one stored user.
func adminEmailKey(c *fiber.Ctx) (adminUser, string, error) {
	var in adminUser
	if err := decodeAdmin(c, &in); err != nil {
		return in, "", err
	}
	if !safereset.ValidEmail(in.EmailAddress) {
		return in, "", badEmail()
	}
	return in, safereset.NormalizeEmail(in.EmailAddress), nil
}

// userStoreFail answers the store error of a route acting on one stored
// user: 404 for an unknown address, otherwise an internal error for op.
func userStoreFail(op string, err error) error {
	if errors.Is(err, safereset.ErrUserNotFound) {
		return adminFail(fiber.StatusNotFound, msgUserUnknown)
	}
	return internal(fmt.Errorf("admin: %s: %w", op, err))
}

// Fixed answers of the user routes (documented in README and openapi.yaml).
const (
	msgUserEmail     = "emailAddress is not a valid address"
	msgUserUnknown   = "no user with that address"
	msgUserBoth      = "give password or passwordHash, not both"
	msgUserPHC       = "passwordHash is not a supported argon2id or bcrypt PHC string"
	msgUserNeither   = "password or passwordHash is required"
	msgUserHashLine  = "the password could not be hashed; see the server log"
	msgUserPWLength  = "password must be 8 to 64 characters"
	msgUserLocale    = "locale must be one of en, nl, de, fr, es"
	msgJWTSubject    = "subject must be 1 to 128 printable characters without leading or trailing spaces"
	msgJWTTTL        = "ttl must be between 1m and the server's --jwt-max-lifetime (at most 720h)"
	msgJWTNoHS256    = "JWT issuing is off: HS256 is not among --jwt-algorithms"
	msgBreachReload  = "reload failed; the old filter stays loaded; see the server log (request id %s)"
	msgBodyNotObject = "body must be a JSON object with the documented fields"
)

// newUser validates an admin-supplied user and hashes its password. A
// failure is an *HTTPError: 400 with a fixed message for a rule broken,
// internal with the cause when hashing failed.
func newUser(c *fiber.Ctx, d *Deps, in adminUser) (safereset.User, *HTTPError) {
	bad := func(msg string) *HTTPError { return &HTTPError{Code: fiber.StatusBadRequest, Msg: msg} }
	if !safereset.ValidEmail(in.EmailAddress) {
		return safereset.User{}, badEmail()
	}
	if !safereset.ValidLocale(in.Locale) {
		return safereset.User{}, bad(msgUserLocale)
	}
	u := safereset.User{Email: strings.TrimSpace(in.EmailAddress), Locale: in.Locale, CreatedAt: d.Now(), PasswordChangedAt: d.Now()}
	switch {
	case in.Password != "" && in.PasswordHash != "":
		return u, bad(msgUserBoth)
	case in.PasswordHash != "":
		if err := password.CheckPHC(in.PasswordHash); err != nil {
			return u, bad(msgUserPHC)
		}
		u.PasswordHash = in.PasswordHash
	case in.Password != "":
		if n := password.Length(in.Password); n < MinPasswordLen || n > MaxPasswordLen {
			return u, bad(msgUserPWLength)
		}
		phc, err := d.Hasher.Hash(c.UserContext(), in.Password)
		if err != nil {
			return u, &HTTPError{Code: fiber.StatusInternalServerError, Err: fmt.Errorf("admin: hash password: %w", err)}
		}
		u.PasswordHash = phc
	default:
		return u, bad(msgUserNeither)
	}
	return u, nil
}

func handleUserCreate(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in adminUser
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		u, herr := newUser(c, d, in)
		if herr != nil {
			return herr
		}
		u, err := d.Store.CreateUser(c.UserContext(), u, userChange(c, d, safereset.AuditUserCreated, ""))
		switch {
		case errors.Is(err, safereset.ErrUserExists):
			return adminFail(fiber.StatusConflict, "a user with that address already exists")
		case err != nil:
			return internal(fmt.Errorf("admin: create user: %w", err))
		}
		d.Logger.Info("user created", "request_id", requestIDOf(c), "user_id", u.ID)
		return c.Status(fiber.StatusCreated).JSON(userView(u))
	}
}

func userView(u safereset.User) fiber.Map {
	return fiber.Map{"id": u.ID, "emailAddress": u.Email, "locale": u.Locale, "createdAt": u.CreatedAt, "passwordChangedAt": u.PasswordChangedAt}
}

// importResult reports an import: one bad line does not stop the rest.
type importResult struct {
	Imported int           `json:"imported"`
	Skipped  int           `json:"skipped"`
	Failed   int           `json:"failed"`
	Errors   []importError `json:"errors,omitempty"`
}

type importError struct {
	Line  int            `json:"line"`
	Error string         `json:"error"`
	Code  safereset.Code `json:"code,omitempty"`
	// Skipped marks a line left out on purpose (the user exists), not a
	// failure.
	Skipped bool `json:"skipped,omitempty"`
}

// maxImportErrors bounds the errors listed in an import report.
const maxImportErrors = 100

func handleUserImport(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var res importResult
		sc := bufio.NewScanner(bytes.NewReader(rawBody(c)))
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		line := 0
		bad := func(msg string, code safereset.Code) {
			res.Failed++
			if len(res.Errors) < maxImportErrors {
				res.Errors = append(res.Errors, importError{Line: line, Error: msg, Code: code})
			}
		}
		for sc.Scan() {
			line++
			text := bytes.TrimSpace(sc.Bytes())
			if len(text) == 0 {
				continue
			}
			var in adminUser
			dec := json.NewDecoder(bytes.NewReader(text))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&in); err != nil {
				bad(importDecodeProblem(err), "")
				continue
			}
			u, herr := newUser(c, d, in)
			if herr != nil {
				msg := herr.Msg
				if herr.Err != nil {
					// One line's cause is logged here: the answer is the
					// import report, not an error.
					d.Logger.Error("import: line failed", "request_id", requestIDOf(c), "line", line, "error", herr.Err.Error())
					msg = msgUserHashLine
				}
				var code safereset.Code
				if herr.Codes.Has(safereset.ER001) {
					code = safereset.ER001
				}
				bad(msg, code)
				continue
			}
			switch _, err := d.Store.CreateUser(c.UserContext(), u, userChange(c, d, safereset.AuditUserImported, "")); {
			case errors.Is(err, safereset.ErrUserExists):
				res.Skipped++
				if len(res.Errors) < maxImportErrors {
					res.Errors = append(res.Errors, importError{Line: line, Error: "a user with that address already exists", Skipped: true})
				}
			case err != nil:
				return internal(fmt.Errorf("admin: import user: %w", err))
			default:
				res.Imported++
			}
		}
		if err := sc.Err(); err != nil {
			bad("line too long (over 64 KiB); import stopped here", "")
		}
		d.Logger.Info("users imported", "request_id", requestIDOf(c), "imported", res.Imported, "skipped", res.Skipped, "failed", res.Failed)
		return c.JSON(res)
	}
}

func handleUserVerify(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		in, key, err := adminEmailKey(c)
		if err != nil {
			return err
		}
		u, err := d.Store.UserByEmail(c.UserContext(), key)
		if err != nil {
			return userStoreFail("verify user", err)
		}
		ok, err := d.Hasher.Verify(c.UserContext(), in.Password, u.PasswordHash)
		if err != nil {
			return internal(fmt.Errorf("admin: verify user: %w", err))
		}
		return c.JSON(fiber.Map{"match": ok})
	}
}

func handleUserDelete(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		_, key, err := adminEmailKey(c)
		if err != nil {
			return err
		}
		if err := d.Store.DeleteUser(c.UserContext(), key, userChange(c, d, safereset.AuditUserDeleted, "")); err != nil {
			return userStoreFail("delete user", err)
		}
		d.Logger.Info("user deleted", "request_id", requestIDOf(c))
		return c.SendStatus(fiber.StatusNoContent)
	}
}

func handleAPIKeyCreate(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in struct {
			Name string `json:"name"`
		}
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		if !safereset.ValidClientName(in.Name) {
			return adminFail(fiber.StatusBadRequest, "name must be 1 to 64 characters of letters, digits and -_.@:")
		}
		key, id, hash, err := NewAPIKey()
		if err != nil {
			return internal(fmt.Errorf("admin: generate api key: %w", err))
		}
		k := safereset.APIKey{ID: id, Name: in.Name, Hash: hash, CreatedAt: d.Now()}
		if err := d.Store.CreateAPIKey(c.UserContext(), k, auditOnly(c, d, safereset.AuditAPIKeyCreated, id+" "+in.Name)); err != nil {
			return internal(fmt.Errorf("admin: create api key: %w", err))
		}
		d.Logger.Info("api key created", "request_id", requestIDOf(c), "key_id", id, "name", in.Name)
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": id, "name": k.Name, "key": key, "createdAt": k.CreatedAt})
	}
}

func handleAPIKeyList(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		keys, err := d.Store.ListAPIKeys(c.UserContext())
		if err != nil {
			return internal(fmt.Errorf("admin: list api keys: %w", err))
		}
		if keys == nil {
			keys = []safereset.APIKey{}
		}
		return c.JSON(keys)
	}
}

func handleAPIKeyRevoke(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := strings.Clone(c.Params("id"))
		err := d.Store.RevokeAPIKey(c.UserContext(), id, d.Now(), auditOnly(c, d, safereset.AuditAPIKeyRevoked, id))
		switch {
		case errors.Is(err, safereset.ErrAPIKeyNotFound):
			return adminFail(fiber.StatusNotFound, "no api key with that id")
		case err != nil:
			return internal(fmt.Errorf("admin: revoke api key: %w", err))
		}
		d.Logger.Info("api key revoked", "request_id", requestIDOf(c), "key_id", id)
		return c.SendStatus(fiber.StatusNoContent)
	}
}

func handleJWTIssue(d *Deps, o Ops) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if o.IssueJWT == nil {
			return adminFail(fiber.StatusNotFound, "JWT support is not configured")
		}
		var in struct {
			Subject string `json:"subject"`
			TTL     string `json:"ttl"`
		}
		if err := decodeAdmin(c, &in); err != nil {
			return err
		}
		ttl := time.Hour
		if in.TTL != "" {
			var err error
			if ttl, err = time.ParseDuration(in.TTL); err != nil {
				return adminFail(fiber.StatusBadRequest, "ttl must be a duration such as 1h or 30m")
			}
		}
		tok, err := o.IssueJWT(in.Subject, ttl)
		switch {
		case errors.Is(err, jwtauth.ErrInvalidSubject):
			return adminFail(fiber.StatusBadRequest, msgJWTSubject)
		case errors.Is(err, jwtauth.ErrInvalidTTL):
			return adminFail(fiber.StatusBadRequest, msgJWTTTL)
		case errors.Is(err, jwtauth.ErrIssueDisabled):
			return adminFail(fiber.StatusBadRequest, msgJWTNoHS256)
		case err != nil:
			return internal(fmt.Errorf("admin: issue jwt: %w", err))
		}
		record(c.UserContext(), d, safereset.AuditJWTIssued, requestIDOf(c), auditOnly(c, d, safereset.AuditJWTIssued, "jwt:"+clientName(d.LabelKey, in.Subject)))
		d.Logger.Info("jwt issued", "request_id", requestIDOf(c), "subject", clientName(d.LabelKey, in.Subject), "ttl", ttl.String())
		return c.JSON(fiber.Map{"token": tok})
	}
}

func handleBreachReload(d *Deps, o Ops) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var in struct {
			Path string `json:"path"`
		}
		if len(bytes.TrimSpace(rawBody(c))) > 0 {
			if err := decodeAdmin(c, &in); err != nil {
				return err
			}
		}
		err := o.Breach.Reload(in.Path)
		info := o.Breach.Info()
		if err != nil {
			return &HTTPError{Code: fiber.StatusUnprocessableEntity, Msg: fmt.Sprintf(msgBreachReload, requestIDOf(c)),
				Err: fmt.Errorf("breach filter reload failed; the old filter stays: %w", err)}
		}
		if e, err := safereset.FilterReloadEffects(d.Events, actorOf(c, d), info); err != nil {
			d.Logger.Error("audit: filter reload effects", "request_id", requestIDOf(c), "error", err.Error())
		} else {
			record(c.UserContext(), d, safereset.AuditFilterReloaded, requestIDOf(c), e)
		}
		d.Logger.Info("breach filter reloaded", "request_id", requestIDOf(c), "source", info.Source, "elements", info.Elements)
		return c.JSON(info)
	}
}

func handleBackup(d *Deps) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// An engine with its own backup tools (PostgreSQL) says so, rather
		// than have the CLI receive something that is not a backup.
		if b, ok := d.Store.(interface{ BackupSupported() bool }); ok && !b.BackupSupported() {
			return adminFail(fiber.StatusNotImplemented, "this server keeps its data in PostgreSQL: back it up with pg_dump")
		}
		c.Set(fiber.HeaderContentType, "application/octet-stream")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="safereset.db"`)
		reqID := requestIDOf(c)
		// Streamed from one read transaction: consistent, and the database
		// is never held in memory. An error mid-stream truncates the body;
		// the CLI opens what it received before keeping it.
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
			n, err := d.Store.Backup(context.Background(), w)
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				d.Logger.Error("admin: backup stream failed", "request_id", reqID, "error", err.Error())
				return
			}
			d.Logger.Info("backup streamed", "request_id", reqID, "bytes", n)
		})
		return nil
	}
}
