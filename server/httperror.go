package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/gofiber/fiber/v2"

	"github.com/safereset/safereset"
)

// HTTPError is what a handler returns instead of writing a failure itself:
// the answer the client sees and, apart from it, the cause. The listener's
// one error handler logs Err once with the request id and renders the
// answer, so no cause can reach a response body.
type HTTPError struct {
	// Code is the HTTP status on the admin API; on the public listener the
	// status is the one the catalog gives Codes.
	Code int
	// Msg is the admin API's answer, a fixed sentence ({"error": Msg}).
	Msg string
	// Codes is the public listener's answer (the seed envelope).
	Codes safereset.Codes
	// Err is the cause: logged, never sent. Nil for an answer that is not
	// a failure of the service (a rule the request broke).
	Err error
}

func (e *HTTPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Msg)
}

func (e *HTTPError) Unwrap() error { return e.Err }

// fail answers with every code in codes at once, under the status the
// catalog gives them.
func fail(codes safereset.Codes) error { return &HTTPError{Codes: codes} }

// failWith is fail for a single code.
func failWith(code safereset.Code) error {
	var cs safereset.Codes
	cs.Add(code)
	return fail(cs)
}

// failCause answers code and logs cause.
func failCause(code safereset.Code, cause error) error {
	var cs safereset.Codes
	cs.Add(code)
	return &HTTPError{Codes: cs, Err: cause}
}

// internal answers ER999 (public) or 500 (admin) and logs cause.
func internal(cause error) error {
	return &HTTPError{Code: fiber.StatusInternalServerError, Codes: safereset.Codes{safereset.ER999: {}}, Err: cause}
}

// adminFail is an admin API answer with a fixed message.
func adminFail(status int, msg string) error { return &HTTPError{Code: status, Msg: msg} }

// adminInternalMsg is the admin API's answer to any internal error; the
// request id finds the cause in the log.
const adminInternalMsg = "internal error; see the server log (request id %s)"

// msgUnreadable is the admin API's answer to a request the HTTP layer
// could not read.
const msgUnreadable = "the request could not be read"

// adminBodyTooLarge is the admin API's answer to a body over AdminBodyLimit.
const adminBodyTooLarge = "request body is too large"

// recoverPanic turns a panic into an internal error; the panic value and
// the stack are its cause.
func recoverPanic() fiber.Handler {
	return func(c *fiber.Ctx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = internal(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
			}
		}()
		return c.Next()
	}
}

// render writes the answer of a public or an admin listener.
type render func(c *fiber.Ctx, e *HTTPError) error

func renderPublic(c *fiber.Ctx, e *HTTPError) error {
	codes := e.Codes
	if len(codes) == 0 {
		codes = safereset.Codes{safereset.ER999: {}}
	}
	return writeEnvelope(c, codes)
}

func renderAdmin(c *fiber.Ctx, e *HTTPError) error {
	status, msg := e.Code, e.Msg
	if status == 0 {
		status = fiber.StatusInternalServerError
		if len(e.Codes) > 0 {
			status = e.Codes.Status()
		}
	}
	if msg == "" {
		if status >= 500 {
			msg = fmt.Sprintf(adminInternalMsg, requestIDOf(c))
		} else {
			msg = http.StatusText(status)
		}
	}
	ae := adminError{Error: msg}
	if status < 500 && len(e.Codes) == 1 {
		ae.Code = e.Codes.Sorted()[0]
	}
	return c.Status(status).JSON(ae)
}

// publicErrors and adminErrors are the error handlers of the two listeners.
func publicErrors(logger *slog.Logger) fiber.ErrorHandler {
	return errorHandler(logger, renderPublic, func(c *fiber.Ctx) error { return writeEnvelope(c, safereset.Codes{safereset.ER413: {}}) })
}

func adminErrors(logger *slog.Logger) fiber.ErrorHandler {
	return errorHandler(logger, renderAdmin, func(c *fiber.Ctx) error {
		return c.Status(fiber.StatusRequestEntityTooLarge).JSON(adminError{Error: adminBodyTooLarge})
	})
}

// errorHandler replaces Fiber's: it logs a cause once, with the request id
// and route, and renders only the answer.
func errorHandler(logger *slog.Logger, r render, tooLarge func(*fiber.Ctx) error) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		// Errors the HTTP layer raises before routing (a body over the hard
		// cap, an unparsable request) never ran the middleware: give them
		// a request id too, as every response carries one.
		if requestIDOf(c) == "" {
			id := newRequestID()
			c.Locals(localsRequestID, id)
			c.Set(fiber.HeaderXRequestID, id)
		}
		// errors.AsType, not errors.As: As's target pointer escapes to
		// the heap, twice on every error answer.
		if fe, ok := errors.AsType[*fiber.Error](err); ok {
			switch {
			case fe.Code == fiber.StatusRequestEntityTooLarge:
				return tooLarge(c)
			case fe.Code >= 400 && fe.Code < 500 && fe.Code != fiber.StatusNotFound && fe.Code != fiber.StatusMethodNotAllowed && c.Locals(localsRoute) == nil:
				// A request the HTTP layer refused before routing (an
				// unparsable head such as Content-Length: -1, headers over
				// the limit, a read timeout): its body could not be read,
				// which counts as every field missing (SPEC §2.4). Its head
				// is not trusted either, so its route is unknown: ER003 is
				// the code an empty body gets on every route.
				return r(c, &HTTPError{Code: fiber.StatusBadRequest, Msg: msgUnreadable, Codes: safereset.Codes{safereset.ER003: {}}})
			case fe.Code >= 400 && fe.Code < 500:
				// Unknown route or method: not a documented answer of any
				// route, so a bare status.
				c.Response().ResetBody()
				c.Status(fe.Code)
				return nil
			}
		}
		he, ok := errors.AsType[*HTTPError](err)
		if !ok {
			he = &HTTPError{Code: fiber.StatusInternalServerError, Err: err}
		}
		if he.Err != nil {
			logger.Error("request failed", "request_id", requestIDOf(c), "route", routeOf(c), "error", he.Err.Error())
		}
		return r(c, he)
	}
}
