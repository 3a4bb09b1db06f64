package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/safereset/safereset"
)

// LabelKeySize is the size of the key that labels JWT subjects.
const LabelKeySize = 32

// clientName is how a JWT subject appears on log lines and in the client
// metric label. A subject made only of name characters is used as it is;
// anything else (an email address an identity provider uses as sub,
// quotes, spaces) becomes "hmac:" and 12 hex digits of its HMAC-SHA256
// under the server's label key: stable enough to tell clients apart, with
// no personal data and a fixed alphabet. Keyed, so that someone who can
// read /metrics or a log cannot confirm a guessed address by hashing it.
func clientName(key []byte, subject string) string {
	if safereset.ValidClientName(subject) && !strings.Contains(subject, "@") {
		return subject
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(subject))
	return "hmac:" + hex.EncodeToString(mac.Sum(nil)[:6])
}
