// Package jwtauth verifies the bearer JWTs clients send instead of an API
// key, and mints HS256 tokens with the service's own key; it is the only
// importer of github.com/golang-jwt/jwt/v5.
//
// Verification allows only the algorithms of an explicit allowlist (HS256,
// RS256, ES256, EdDSA), picks the key by alg family and kid so a key never
// serves another algorithm, refuses tokens that embed or point at keys
// (jwk, jku, x5u, x5c) or demand extensions (crit), requires exp and sub,
// and checks iss and aud when configured. Only a token that passes every
// other check but is past exp counts as expired (ER801); everything else
// is invalid (ER800).
//
// # Caveats
//
//   - Clock skew: exp, nbf and iat are checked with a leeway (30s by
//     default), so a token stays usable up to that long after exp, and may
//     be used that long before nbf or iat.
//   - The HS256 secret lives in <data-dir>/jwt.key (32 random bytes, mode
//     0600) unless one is configured. Anyone who can read that file can mint
//     tokens for any subject; New refuses the file when its mode lets group
//     or others read it. Issue signs with this secret only.
//   - Revocation is by cut-off time only: Config.NotBefore refuses every
//     token issued (iat) before it, at one-second precision. There is no
//     per-token revocation; the jti of issued tokens is not tracked, and
//     a token can be replayed until it expires.
//   - Keys are read once, by New: rotating the PEM or JWKS file takes a
//     restart. jku is refused, so keys are never fetched over the network.
//   - Tokens longer than MaxTokenSize (8 KiB), or that are not three
//     base64url segments, are refused before anything is decoded.
//   - Subjects are limited to 128 printable characters because they appear
//     on log lines and identify the client in metrics.
package jwtauth
