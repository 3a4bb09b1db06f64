package data

import (
	_ "embed" // for go:embed
	"time"
)

//go:generate go run ./gen

// The default breach filter is built from CommonPasswords with these
// settings; go generate ./data rebuilds it, and a test in package breach
// checks that the shipped file is exactly what that produces.
const (
	// DefaultFilterFile is the file, in this directory, of the default filter.
	DefaultFilterFile = "breach-default.bloom"
	// CommonPasswordsFile is the file, in this directory, of the list.
	CommonPasswordsFile = "common-passwords.txt"
	// DefaultFilterFPR is the default filter's target false-positive rate:
	// low, because the filter is tiny anyway (about 25 KiB).
	DefaultFilterFPR = 1e-6
	// DefaultFilterSource is the source description in its header.
	DefaultFilterSource = "common-passwords.txt: zxcvbn-go v1.0.4 data/Passwords.json (Mark Burnett's top passwords), plaintext, SHA-1"
)

// DefaultFilterBuiltAt is the build time stamped into the default filter,
// fixed so that regenerating it reproduces the file byte for byte.
func DefaultFilterBuiltAt() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) }

//go:embed breach-default.bloom
var breachFilter string

//go:embed common-passwords.txt
var commonPasswords string

// BreachFilter returns the default breach filter file (see package breach).
func BreachFilter() string { return breachFilter }

// CommonPasswords returns the common-password list, one password a line.
func CommonPasswords() string { return commonPasswords }
