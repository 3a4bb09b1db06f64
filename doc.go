// Package safereset is the domain of the safereset password-reset service:
// the error catalog, the records it stores, and the small interfaces the
// other packages implement (store, breach checking, mail, rate limiting,
// client authentication).
//
// It imports only the standard library, so every other package can depend
// on it without pulling in a framework.
package safereset
