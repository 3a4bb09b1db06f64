// Package data ships the files safereset embeds in its binary: the default
// breach filter and the public common-password list it is built from.
//
// # Caveats
//
// The default list is small (7141 passwords): it stops the most common
// passwords out of the box but is no substitute for a filter built from the
// Have I Been Pwned corpus (see README.md and `safereset breach build`).
package data
