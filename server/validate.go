package server

import (
	"errors"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/password"
)

// resetRequest is the body of PATCH /api/v1/user/reset-password. A member
// that is missing, not a string or the body not one JSON object reads as "".
type resetRequest struct {
	Email, Password, PasswordVerify, Token string
}

func decodeReset(body []byte) resetRequest {
	f := decodeObject(body, fieldEmail, fieldPassword, fieldVerify, fieldToken)
	return resetRequest{Email: f[fieldEmail].str, Password: f[fieldPassword].str, PasswordVerify: f[fieldVerify].str, Token: f[fieldToken].str}
}

// emailOK reports an address that passes both emailAddress rules.
func (r resetRequest) emailOK() bool { return r.Email != "" && safereset.ValidEmail(r.Email) }

// tokenLookup reports whether the token is worth asking the store about:
// well formed, for a valid address.
func (r resetRequest) tokenLookup() bool { return wellFormedToken(r.Token) && r.emailOK() }

// passwordLengthOK reports a password whose length allows a breach check.
func (r resetRequest) passwordLengthOK() bool { return passwordLengthOK(r.Password) }

func passwordLengthOK(pw string) bool {
	n := password.Length(pw)
	return pw != "" && n >= MinPasswordLen && n <= MaxPasswordLen
}

// validate applies every field rule of a reset (SPEC §2.4) at once. tokErr
// is what the store said of the token (ErrTokenInvalid when it was not
// asked); verdict is the breach check of the password, nil when its length
// ruled the check out.
func (r resetRequest) validate(tokErr error, verdict *safereset.Verdict) safereset.Codes {
	var codes safereset.Codes
	addEmailCodes(r.Email, &codes)
	addPasswordCodes(r.Password, verdict, &codes)
	// Compared in NFKC form, the form that is hashed.
	if password.Normalize(r.PasswordVerify) != password.Normalize(r.Password) {
		codes.Add(safereset.ER350)
	}

	switch {
	case r.Token == "":
		codes.Add(safereset.ER351)
	case !wellFormedToken(r.Token):
		codes.Add(safereset.ER352)
	case r.emailOK() && errors.Is(tokErr, safereset.ErrTokenInvalid):
		codes.Add(safereset.ER352)
	case r.emailOK() && errors.Is(tokErr, safereset.ErrTokenExpired):
		codes.Add(safereset.ER353)
	}
	return codes
}

// addPasswordCodes applies the new-password rules (ER004, ER122, ER123,
// ER349): the PATCH route's and POST /api/v1/password/check's, one
// function so the two cannot disagree. verdict is the breach check of
// the password, nil when its length ruled the check out.
func addPasswordCodes(pw string, verdict *safereset.Verdict, codes *safereset.Codes) {
	switch n := password.Length(pw); {
	case pw == "":
		codes.Add(safereset.ER004)
	case n < MinPasswordLen:
		codes.Add(safereset.ER122)
	case n > MaxPasswordLen:
		codes.Add(safereset.ER123)
	case verdict != nil && (verdict.Breached || verdict.Weak):
		codes.Add(safereset.ER349)
	}
}

// addEmailCodes applies the emailAddress rules (ER003, ER001).
func addEmailCodes(email string, codes *safereset.Codes) {
	switch {
	case email == "":
		codes.Add(safereset.ER003)
	case !safereset.ValidEmail(email):
		codes.Add(safereset.ER001)
	}
}
