package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/server/page"
)

// ResetPage configures the reset page at /reset (SPEC §11).
type ResetPage struct {
	// CSRFKey binds each form to its token (at least 32 bytes, kept in a
	// key file so that forms survive a restart and agree across replicas
	// sharing the data directory).
	CSRFKey []byte
	// Product names the service on the page. Default "safereset".
	Product string
	// DefaultLocale is the language when Accept-Language names none of
	// the shipped ones. Default "en".
	DefaultLocale string
	// LockDuration is how long "this wasn't me" refuses new reset tokens
	// (--lock-duration). Default 24h.
	LockDuration time.Duration
	// LockTTL is how long a mail's lock link works (--lock-link-ttl).
	// Default 168h: the confirmation mail's link must still work when
	// its reader comes back days later.
	LockTTL time.Duration
}

// PageCSP is the reset page's Content-Security-Policy: SPEC §11's, plus
// script-src 'self' for the page's one external script (which drops the
// token from the address bar). No inline script or style can run.
const PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const (
	pagePath   = "/reset"
	pageAssets = "/reset/assets"
	fieldCSRF  = "csrf"
	// csrfContext keeps the page's MAC apart from any other use of the key.
	csrfContext = "safereset reset-page csrf v1\x00"
)

func (p *ResetPage) defaults() error {
	if len(p.CSRFKey) < 32 {
		return errors.New("server: reset page: csrf key shorter than 32 bytes")
	}
	if p.Product == "" {
		p.Product = "safereset"
	}
	if !page.Supported(p.DefaultLocale) {
		p.DefaultLocale = page.Languages[0]
	}
	if p.LockDuration <= 0 {
		p.LockDuration = DefaultLockDuration
	}
	if p.LockTTL <= 0 {
		p.LockTTL = DefaultLockTTL
	}
	return nil
}

// pageCSRF is the form's CSRF value: a MAC of the token's hash under the
// page key, so only this server can make it and it fits one token only.
func pageCSRF(key []byte, token string) string { return macCSRF(key, csrfContext, token) }

// macCSRF is the CSRF value of token for the form named by context.
func macCSRF(key []byte, context, token string) string {
	h := sha256.Sum256([]byte(token))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(context))
	m.Write(h[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// pageHeaders are the headers of every page answer (SPEC §11).
func pageHeaders(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", PageCSP)
	c.Set("Referrer-Policy", "no-referrer")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderVary, "Accept-Language")
}

// pageCtx is one page request: its language and the renderer.
type pageCtx struct {
	d    *Deps
	r    *page.Renderer
	lang string
}

func newPageCtx(c *fiber.Ctx, d *Deps, r *page.Renderer) pageCtx {
	return pageCtx{d: d, r: r, lang: page.Negotiate(c.Get(fiber.HeaderAcceptLanguage), d.ResetPage.DefaultLocale)}
}

func (p pageCtx) send(c *fiber.Ctx, status int, render func(*bytes.Buffer) error) error {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		return internal(fmt.Errorf("page: render: %w", err))
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentLanguage, p.lang)
	return c.Status(status).Send(b.Bytes())
}

func (p pageCtx) message(c *fiber.Ctx, status int, title string, alert *page.Problem, success bool, paras ...string) error {
	return p.send(c, status, func(b *bytes.Buffer) error {
		return p.r.Message(b, p.lang, page.Message{Product: p.d.ResetPage.Product, Assets: pageAssets, Title: title,
			Alert: alert, Success: success, Paragraphs: paras})
	})
}

func (p pageCtx) codeMessage(c *fiber.Ctx, codes safereset.Codes, title string) error {
	// One problem is enough on a page without a form: the first in code
	// order, which puts the token's problem before the rest.
	pr := page.CodeProblem(p.lang, codes.Sorted()[0])
	return p.message(c, codes.Status(), title, &pr, false)
}

func (p pageCtx) form(c *fiber.Ctx, status int, f page.Form) error {
	f.Product, f.Assets, f.Action = p.d.ResetPage.Product, pageAssets, pagePath
	f.CSRF = pageCSRF(p.d.ResetPage.CSRFKey, f.Token)
	return p.send(c, status, func(b *bytes.Buffer) error { return p.r.Form(b, p.lang, f) })
}

// pageErrors sets the page's headers and renders as a page what the
// middleware after it refuses (a rate limit, an internal error), so a
// browser never lands on a JSON body. Causes are logged here, once.
func pageErrors(d *Deps, r *page.Renderer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		pageHeaders(c)
		err := c.Next()
		var he *HTTPError
		if err == nil || !errors.As(err, &he) {
			return err
		}
		if he.Err != nil {
			d.Logger.Error("request failed", "request_id", requestIDOf(c), "route", routeOf(c), "error", he.Err.Error())
		}
		codes := he.Codes
		if len(codes) == 0 {
			codes = safereset.Codes{safereset.ER999: {}}
		}
		setCodes(c, codes)
		p := newPageCtx(c, d, r)
		return p.codeMessage(c, codes, page.TextsFor(p.lang).TitleError)
	}
}

// handlePage is GET /reset: the form, or why the link cannot be used. It
// changes nothing: mail scanners open links.
func handlePage(d *Deps, r *page.Renderer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := newPageCtx(c, d, r)
		t := page.TextsFor(p.lang)
		token, email := strings.Clone(c.Query("token")), strings.Clone(c.Query("email"))
		var tokErr error = safereset.ErrTokenInvalid
		if wellFormedToken(token) && safereset.ValidEmail(email) {
			tokHash := sha256.Sum256([]byte(token))
			tokErr = d.Store.CheckToken(c.UserContext(), safereset.NormalizeEmail(email), tokHash, d.Now())
		}
		var code safereset.Code
		switch {
		case token == "":
			code = safereset.ER351
		case tokErr == nil:
			setCodes(c, nil)
			return p.form(c, fiber.StatusOK, page.Form{Token: token, Email: email})
		case errors.Is(tokErr, safereset.ErrTokenInvalid):
			code = safereset.ER352
		case errors.Is(tokErr, safereset.ErrTokenExpired):
			code = safereset.ER353
		default:
			return internal(fmt.Errorf("page: check token: %w", tokErr))
		}
		codes := safereset.Codes{code: {}}
		setCodes(c, codes)
		return p.codeMessage(c, codes, t.TitleLink)
	}
}

// readForm reads a page form's urlencoded body. When it cannot, ok is
// false and the handler returns err, the answer already chosen: ER413 for
// a body over the limit, else a message page (415 for another media type,
// 400 for a body that does not parse).
func (p pageCtx) readForm(c *fiber.Ctx, t *page.Texts) (values url.Values, ok bool, err error) {
	body, ok := readBody(c)
	if !ok {
		return nil, false, failWith(safereset.ER413)
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationForm {
		return nil, false, p.message(c, fiber.StatusUnsupportedMediaType, t.TitleError, &t.BadRequest, false)
	}
	if values, err = url.ParseQuery(string(body)); err != nil {
		return nil, false, p.message(c, fiber.StatusBadRequest, t.TitleError, &t.BadRequest, false)
	}
	return values, true, nil
}

// handlePageSubmit is POST /reset: the form's answer. It applies the
// PATCH route's rules through the same function, so codes, limits and
// single use are the API's, and shows each problem next to its field.
func handlePageSubmit(d *Deps, r *page.Renderer) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := newPageCtx(c, d, r)
		t := page.TextsFor(p.lang)
		values, ok, err := p.readForm(c, t)
		if !ok {
			return err
		}
		req := resetRequest{Email: formValue(values, fieldEmail), Password: formValue(values, fieldPassword),
			PasswordVerify: formValue(values, fieldVerify), Token: formValue(values, fieldToken)}
		csrf := formValue(values, fieldCSRF)
		if csrf == "" || !hmac.Equal([]byte(csrf), []byte(pageCSRF(d.ResetPage.CSRFKey, req.Token))) {
			return p.message(c, fiber.StatusForbidden, t.TitleError, &t.FormExpired, false)
		}

		err = resetPassword(c, d, req)
		var he *HTTPError
		switch {
		case err == nil:
			setCodes(c, nil)
			return p.message(c, fiber.StatusOK, t.TitleDone, &page.Problem{Message: t.Done, Solution: t.DoneNext}, true)
		case !errors.As(err, &he) || he.Err != nil && !he.Codes.Has(safereset.ER355):
			return err // an internal error: pageErrors logs and renders it
		}
		codes := he.Codes
		setCodes(c, codes)
		if he.Err != nil {
			d.Logger.Error("request failed", "request_id", requestIDOf(c), "route", routeOf(c), "error", he.Err.Error())
		}
		switch {
		case codes.Has(safereset.ER355):
			// The password is set; only the confirmation mail failed.
			pr := page.CodeProblem(p.lang, safereset.ER355)
			return p.message(c, codes.Status(), t.TitleDone, &pr, true)
		case codes.Has(safereset.ER351) || codes.Has(safereset.ER352) || codes.Has(safereset.ER353):
			// The form cannot succeed with this link: say so instead of
			// asking for another password.
			return p.codeMessage(c, codes, t.TitleLink)
		}
		form := page.Form{Token: req.Token, Email: req.Email, Errors: map[string][]page.Problem{}}
		for _, code := range codes.Sorted() {
			pr := page.CodeProblem(p.lang, code)
			switch code {
			case safereset.ER001, safereset.ER003:
				form.Errors[page.FieldEmail] = append(form.Errors[page.FieldEmail], pr)
			case safereset.ER004, safereset.ER122, safereset.ER123, safereset.ER349:
				form.Errors[page.FieldPassword] = append(form.Errors[page.FieldPassword], pr)
			case safereset.ER350:
				form.Errors[page.FieldVerify] = append(form.Errors[page.FieldVerify], pr)
			default:
				form.Alert = &pr
			}
		}
		return p.form(c, codes.Status(), form)
	}
}

// formValue is the value of name in a decoded form. A name given more
// than once reads as missing, as a repeated key does in the API's JSON.
func formValue(values url.Values, name string) string {
	if vs := values[name]; len(vs) == 1 {
		return vs[0]
	}
	return ""
}

// handlePageAsset serves the page's stylesheet and script from the binary.
func handlePageAsset() (fiber.Handler, error) {
	types := map[string]string{"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}
	files := map[string][]byte{}
	for name := range types {
		b, err := fs.ReadFile(page.Assets(), name)
		if err != nil {
			return nil, fmt.Errorf("server: reset page asset %s: %w", name, err)
		}
		files[name] = b
	}
	return func(c *fiber.Ctx) error {
		name := c.Params("name")
		b, ok := files[name]
		if !ok {
			return fiber.ErrNotFound
		}
		c.Set(fiber.HeaderContentType, types[name])
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderCacheControl, "public, max-age=300")
		return c.Send(b)
	}, nil
}
