package safereset

// Unexported checks, for the external tests.
var (
	PlainEmailForTest     = plainEmail
	ValidEmailFullForTest = validEmailFull
)
