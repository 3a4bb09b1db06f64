// Package page holds the reset page's templates, stylesheet, script and
// texts in the five shipped languages, all embedded in the binary.
//
// # Caveats
//
// The texts of catalog codes shown on the page are translations of the
// seed's English; the API keeps answering the seed's English byte for
// byte. A code without a translation falls back to the seed's text.
package page
