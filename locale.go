package safereset

import "slices"

// locales are the shipped languages of the reset page and the mails.
var locales = []string{"en", "nl", "de", "fr", "es"}

// Locales returns the shipped languages, the fallback first.
func Locales() []string { return slices.Clone(locales) }

// ValidLocale reports whether a user's stored locale is acceptable: empty
// (the service's default) or a shipped language.
func ValidLocale(l string) bool { return l == "" || slices.Contains(locales, l) }
