package safereset

import (
	"net/http"
	"slices"
	"sort"
)

// Code is an error code of the public API, such as "ER352".
type Code string

// The codes of the API. The ER0xx–ER9xx codes are the seed's; ER413 and
// ER429 are extensions documented as such in the OpenAPI file.
const (
	ER001 Code = "ER001"
	ER003 Code = "ER003"
	ER004 Code = "ER004"
	ER122 Code = "ER122"
	ER123 Code = "ER123"
	ER349 Code = "ER349"
	ER350 Code = "ER350"
	ER351 Code = "ER351"
	ER352 Code = "ER352"
	ER353 Code = "ER353"
	ER354 Code = "ER354"
	ER355 Code = "ER355"
	ER413 Code = "ER413"
	ER429 Code = "ER429"
	ER800 Code = "ER800"
	ER801 Code = "ER801"
	ER802 Code = "ER802"
	ER803 Code = "ER803"
	ER805 Code = "ER805"
	ER806 Code = "ER806"
	ER999 Code = "ER999"
)

// CodeOK is the pseudo-code counted in metrics for a successful response.
const CodeOK Code = "OK"

// Entry is one row of the error catalog.
type Entry struct {
	Code     Code   `json:"code"`
	Status   int    `json:"-"`
	Message  string `json:"message"`
	Solution string `json:"solution"`
}

// catalog maps each code to its HTTP status, message and solution. Messages
// and solutions are copied byte for byte from the seed (a golden test pins
// them); do not "fix" their punctuation.
var catalog = map[Code]Entry{
	ER001: {ER001, http.StatusBadRequest, "Email address is invalid.", "Provide a valid email address."},
	ER003: {ER003, http.StatusBadRequest, "No email address provided.", "Provide a valid email address."},
	ER004: {ER004, http.StatusBadRequest, "No password provided.", "Provide the password of the user."},
	ER122: {ER122, http.StatusBadRequest, "Invalid password length", "Your password should be at least 8 characters in length."},
	ER123: {ER123, http.StatusBadRequest, "Invalid password length", "Your password can't have more than 64 characters."},
	ER349: {ER349, http.StatusBadRequest, "Password isn't strong enough, or has been found in a data breach.", "Provide a new password. We encourage the use of a password manager to create and store strong passwords."},
	ER350: {ER350, http.StatusBadRequest, "Password does not match the confirmation password.", "Provide a matching confirmation password."},
	ER351: {ER351, http.StatusBadRequest, "Password reset token is missing from the request.", "Provide a valid password reset token."},
	ER352: {ER352, http.StatusBadRequest, "Password reset token is invalid.", "Provide a valid password reset token or request a new one."},
	ER353: {ER353, http.StatusBadRequest, "Password reset token has expired.", "Request a new password reset token."},
	ER354: {ER354, http.StatusServiceUnavailable, "Failed to request a password reset token", "Try again later, or contact support if problems continue"},
	ER355: {ER355, http.StatusBadGateway, "There was a technical problem sending the confirmation email that your password was reset successfully.", "Your password has been reset. If you still wish to receive a confirmation email, please reset your password again. If you have any questions, feel free to contact support."},
	ER413: {ER413, http.StatusRequestEntityTooLarge, "Request body is too large.", "Send a request body of at most 16 KiB."},
	ER429: {ER429, http.StatusTooManyRequests, "Too many requests.", "Wait until the time given in the Retry-After header, then try again."},
	ER800: {ER800, http.StatusUnauthorized, "Authorization token is invalid.", "Provide a valid authorization token."},
	ER801: {ER801, http.StatusUnauthorized, "Authorization token has expired.", "Request a new authorization token."},
	ER802: {ER802, http.StatusUnauthorized, "Authorization token not found.", "Provide an authorization token."},
	ER803: {ER803, http.StatusUnauthorized, "Multiple authorization methods used.", "Use exactly one authorization method."},
	ER805: {ER805, http.StatusUnauthorized, "API key is invalid.", "Provide a valid API key."},
	ER806: {ER806, http.StatusUnauthorized, "API key not found.", "Provide an API key."},
	ER999: {ER999, http.StatusInternalServerError, "A general error has occurred. Please contact our support team.", "Contact our support team."},
}

// Lookup returns the catalog entry of code.
func Lookup(code Code) (Entry, bool) {
	e, ok := catalog[code]
	return e, ok
}

// Catalog returns every entry of the catalog, sorted by code.
func Catalog() []Entry {
	out := make([]Entry, 0, len(catalog))
	for _, e := range catalog {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// Codes is a set of error codes found while handling one request. The zero
// value is empty and ready to use.
type Codes map[Code]struct{}

// Add puts code in the set.
func (cs *Codes) Add(code Code) {
	if *cs == nil {
		*cs = make(Codes)
	}
	(*cs)[code] = struct{}{}
}

// Has reports whether code is in the set.
func (cs Codes) Has(code Code) bool { _, ok := cs[code]; return ok }

// Sorted returns the codes in ascending order.
func (cs Codes) Sorted() []Code {
	out := make([]Code, 0, len(cs))
	for c := range cs {
		out = append(out, c)
	}
	slices.Sort(out) // not sort.Slice: its swapper allocates, on every error answer
	return out
}

// Status is the HTTP status of a response carrying these codes: the status
// shared by the codes, and for a mix the most severe (5xx over 4xx, then
// the highest). An empty set has status 0.
func (cs Codes) Status() int {
	status := 0
	for c := range cs {
		s := catalog[c].Status
		if s == 0 {
			s = http.StatusInternalServerError
		}
		if s > status {
			status = s
		}
	}
	return status
}
