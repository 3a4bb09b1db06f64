package jwtauth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/safereset/safereset"
)

// Limits and defaults.
const (
	// DefaultLeeway is the clock-skew allowance for exp, nbf and iat when
	// Config.Leeway is zero.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest Config.Leeway New accepts.
	MaxLeeway = 5 * time.Minute
	// MaxTokenSize is the longest token Verify looks at, in bytes; longer
	// ones are rejected before any decoding.
	MaxTokenSize = 8 << 10
	// MinTTL and MaxTTL bound the lifetime of tokens made by Issue.
	MinTTL = time.Minute
	MaxTTL = 30 * 24 * time.Hour
	// MaxSubjectLen is the longest subject, in characters (code points),
	// that Issue mints and Verify accepts.
	MaxSubjectLen = 128
)

// The JWS algorithms jwtauth verifies.
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// Issue errors, checked with errors.Is; the admin API answers them as bad
// requests.
var (
	// ErrInvalidSubject is returned by Issue for a subject that is empty,
	// longer than MaxSubjectLen, not printable UTF-8, or that starts or
	// ends with a space.
	ErrInvalidSubject = errors.New("jwtauth: subject must be 1 to 128 printable characters with no leading or trailing space")
	// ErrInvalidTTL is returned by Issue for a ttl outside [MinTTL, MaxTTL]
	// or above the configured MaxLifetime (tokens the server would refuse).
	ErrInvalidTTL = errors.New("jwtauth: ttl must be between 1m and 720h (30 days) and within the configured max lifetime")
	// ErrIssueDisabled is returned by Issue when HS256 is not in the
	// algorithm allowlist, so there is no service key to sign with.
	ErrIssueDisabled = errors.New("jwtauth: issuing is disabled because HS256 is not an allowed algorithm")
)

// Reasons a token is refused. They are wrapped under
// safereset.ErrAuthInvalid for the log line; their texts are fixed so an
// error never carries any part of a token.
var (
	errTooLong        = errors.New("token longer than 8192 bytes")
	errNotCompact     = errors.New("not three non-empty base64url segments")
	errAlgNotAllowed  = errors.New("alg not allowed")
	errForbiddenHdr   = errors.New("header embeds a key or key location (jwk, jku, x5u, x5c) or has crit")
	errUnknownKid     = errors.New("unknown kid")
	errNoKey          = errors.New("no key for alg")
	errMissingSubject = errors.New("sub claim missing")
	errBadSubject     = errors.New("sub claim too long or not printable")
	errMissingIat     = errors.New("iat claim missing, required by the not-before cut-off")
	errRevoked        = errors.New("issued before the not-before cut-off")
	errMissingExp     = errors.New("exp claim missing")
	errMissingIss     = errors.New("iss claim missing")
	errMissingAud     = errors.New("aud claim missing")
	errBadTime        = errors.New("exp, nbf or iat outside the years 1970 to 9999")
	errTimeNotNumber  = errors.New("exp, nbf or iat is not a JSON number")
	errTooLongLived   = errors.New("exp too far after iat (or now): lifetime above the maximum")
	errUnclassified   = errors.New("token rejected")

	// Pre-wrapped so the cheap rejections do not allocate.
	errTooLongAuth    = fmt.Errorf("jwtauth: %w: %w", safereset.ErrAuthInvalid, errTooLong)
	errNotCompactAuth = fmt.Errorf("jwtauth: %w: %w", safereset.ErrAuthInvalid, errNotCompact)
	errExpiredAuth    = fmt.Errorf("jwtauth: %w", safereset.ErrAuthExpired)
)

// knownReasons are the leaf errors that may appear in a Verify error.
// Anything else in golang-jwt's error tree (JSON or base64 details) is
// dropped rather than risk echoing token bytes.
var knownReasons = append(slices.Clip(ownReasons),
	jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid,
	jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenInvalidAudience, jwt.ErrTokenExpired,
	jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidIssuer, jwt.ErrTokenNotValidYet,
	jwt.ErrInvalidType,
)

// ownReasons are the reasons jwtauth's own checks give.
var ownReasons = []error{
	errTooLong, errNotCompact, errAlgNotAllowed, errForbiddenHdr, errUnknownKid,
	errNoKey, errMissingSubject, errBadSubject, errMissingIat, errRevoked,
	errMissingExp, errMissingIss, errMissingAud, errBadTime, errTooLongLived,
	errTimeNotNumber,
}

// forbiddenHeaders name a key or a place to fetch one from (RFC 7515
// §4.1.3–4.1.6), or demand extensions jwtauth does not implement (crit).
// Trusting them lets the token choose its own key, so any of them refuses
// the token outright.
var forbiddenHeaders = []string{"jwk", "jku", "x5u", "x5c", "crit"}

// Config configures a Verifier. Only a source of keys is required:
// DataDir, HS256Secret, PublicKeyFile or JWKSFile; every other field has a
// safe zero value.
type Config struct {
	// DataDir is where jwt.key, the service's HS256 secret, is created
	// (SecretSize random bytes, mode 0600) on first start when HS256 is
	// allowed and HS256Secret is empty. An existing jwt.key is reused; one
	// readable by group or others is refused.
	DataDir string
	// HS256Secret is a configured HS256 secret, used as raw bytes; it
	// replaces jwt.key. It must be at least SecretSize bytes and should be
	// random (a 32-character passphrase passes the length check but is
	// guessable offline from any token). The HS256 key has no kid: an
	// HS256 token that names one is refused.
	HS256Secret []byte
	// HS256Previous are older HS256 secrets that still verify but never
	// sign, so a key can be rotated without rejecting the tokens already
	// handed out: sign with the new key, keep the old one here until the
	// longest-lived token signed with it has expired. Each must be at least
	// SecretSize bytes; they are used only with HS256Secret.
	HS256Previous [][]byte
	// PublicKeyFile is an optional PEM file of "PUBLIC KEY" (PKIX) or "RSA
	// PUBLIC KEY" (PKCS #1) blocks: RSA (2048–8192 bits, RS256), ECDSA
	// P-256 (ES256) or Ed25519 (EdDSA). A token names one of these keys by
	// its RFC 7638 thumbprint as kid (see Thumbprint), or carries no kid
	// and is tried against every key of its alg.
	PublicKeyFile string
	// JWKSFile is an optional RFC 7517 JWK Set of RSA, EC P-256 and OKP
	// Ed25519 public keys. A token selects a key by kid (a key without kid
	// gets its thumbprint); keys with "use":"enc" are skipped; a key's
	// "alg", when present, must match its type.
	JWKSFile string
	// Algorithms is the allowlist of JWS algorithms (HS256, RS256, ES256,
	// EdDSA). Empty means HS256 (when a secret or DataDir is given) plus
	// the algorithms of the configured public keys. Every listed algorithm
	// needs a key.
	Algorithms []string
	// Issuer, when set, must equal a token's iss; it is also the iss of
	// issued tokens.
	Issuer string
	// Audience, when set, must be a token's aud or one element of it; it
	// is also the aud of issued tokens.
	Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat: zero means
	// DefaultLeeway; negative or above MaxLeeway is refused.
	Leeway time.Duration
	// NotBefore is the revocation cut-off: tokens whose iat is before it
	// (or that have no iat) are refused. It is applied at whole seconds,
	// the precision of iat. Zero disables it; a time in the future is
	// refused by New.
	NotBefore time.Time
	// MaxLifetime bounds exp - iat (exp - now for a token without iat), so
	// a leaked token cannot stay valid for decades. Zero means MaxTTL, the
	// longest lifetime Issue mints.
	MaxLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier verifies bearer JWTs and mints HS256 ones. It is safe for
// concurrent use.
type Verifier struct {
	parser   *jwt.Parser
	now      func() time.Time
	algs     []string
	secret   []byte                           // nil when HS256 is not allowed
	previous [][]byte                         // older HS256 secrets: verify only
	byKid    map[string]publicKey             // public keys by kid
	byAlg    map[string][]jwt.VerificationKey // public keys by alg, for tokens without kid
	issuer   string
	audience string
	cutoff   time.Time
	maxLife  time.Duration
}

var _ safereset.TokenVerifier = (*Verifier)(nil)

// New loads or creates the keys cfg names and returns a Verifier. Every
// configuration mistake (short secret, exposed key file, unreadable or
// unsupported key, unknown algorithm, algorithm without a key) is an
// error, so a bad setup is refused at start.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{
		now:      cfg.Now,
		byKid:    make(map[string]publicKey),
		byAlg:    make(map[string][]jwt.VerificationKey),
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
	}
	if v.now == nil {
		v.now = time.Now
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0 || leeway > MaxLeeway:
		return nil, fmt.Errorf("jwtauth: leeway %s is outside 0s..%s", leeway, MaxLeeway)
	}

	if err := v.loadPublicKeys(cfg); err != nil {
		return nil, err
	}
	if err := v.chooseAlgorithms(cfg); err != nil {
		return nil, err
	}
	if slices.Contains(v.algs, AlgHS256) {
		secret, err := hs256Secret(cfg)
		if err != nil {
			return nil, err
		}
		v.secret = secret
		if len(cfg.HS256Previous) > 0 && len(cfg.HS256Secret) == 0 {
			return nil, errors.New("jwtauth: previous HS256 secrets need a configured HS256 secret to sign with")
		}
		for i, p := range cfg.HS256Previous {
			if len(p) < SecretSize {
				return nil, fmt.Errorf("jwtauth: previous HS256 secret %d has %d bytes, want at least %d (256 bits)", i+1, len(p), SecretSize)
			}
			v.previous = append(v.previous, slices.Clone(p))
		}
	} else if len(cfg.HS256Secret) > 0 {
		return nil, errors.New("jwtauth: an HS256 secret is configured but HS256 is not in the algorithm allowlist")
	}

	switch v.maxLife = cfg.MaxLifetime; {
	case v.maxLife == 0:
		v.maxLife = MaxTTL
	case v.maxLife < MinTTL:
		return nil, fmt.Errorf("jwtauth: max lifetime %s is below %s", v.maxLife, MinTTL)
	}
	if !cfg.NotBefore.IsZero() {
		v.cutoff = cfg.NotBefore.Truncate(time.Second)
		if now := v.now(); v.cutoff.After(now) {
			return nil, fmt.Errorf("jwtauth: not-before cut-off %s is in the future (now %s); it would refuse every token, including new ones",
				v.cutoff.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func (v *Verifier) loadPublicKeys(cfg Config) error {
	var keys []publicKey
	if cfg.PublicKeyFile != "" {
		k, err := loadPEM(cfg.PublicKeyFile)
		if err != nil {
			return err
		}
		keys = append(keys, k...)
	}
	if cfg.JWKSFile != "" {
		k, err := loadJWKS(cfg.JWKSFile)
		if err != nil {
			return err
		}
		keys = append(keys, k...)
	}
	for _, k := range keys {
		if _, dup := v.byKid[k.kid]; dup {
			return fmt.Errorf("jwtauth: kid %q names two configured keys", k.kid)
		}
		v.byKid[k.kid] = k
		v.byAlg[k.alg] = append(v.byAlg[k.alg], k.key)
	}
	return nil
}

func (v *Verifier) chooseAlgorithms(cfg Config) error {
	supported := []string{AlgHS256, AlgRS256, AlgES256, AlgEdDSA}
	if len(cfg.Algorithms) == 0 {
		for _, alg := range supported {
			hs := alg == AlgHS256 && (len(cfg.HS256Secret) > 0 || cfg.DataDir != "")
			if hs || len(v.byAlg[alg]) > 0 {
				v.algs = append(v.algs, alg)
			}
		}
		if len(v.algs) == 0 {
			return errors.New("jwtauth: no key configured: give a data dir, an HS256 secret, a PEM public key file or a JWKS file")
		}
		return nil
	}
	for _, alg := range cfg.Algorithms {
		if !slices.Contains(supported, alg) {
			return fmt.Errorf("jwtauth: algorithm %q is not supported, want one of %s", alg, strings.Join(supported, ", "))
		}
		if alg != AlgHS256 && len(v.byAlg[alg]) == 0 {
			return fmt.Errorf("jwtauth: algorithm %s is allowed but no %s public key is configured", alg, alg)
		}
		if !slices.Contains(v.algs, alg) {
			v.algs = append(v.algs, alg)
		}
	}
	return nil
}

func hs256Secret(cfg Config) ([]byte, error) {
	if len(cfg.HS256Secret) > 0 {
		if len(cfg.HS256Secret) < SecretSize {
			return nil, fmt.Errorf("jwtauth: the HS256 secret has %d bytes, want at least %d (256 bits)", len(cfg.HS256Secret), SecretSize)
		}
		return slices.Clone(cfg.HS256Secret), nil
	}
	if cfg.DataDir == "" {
		return nil, errors.New("jwtauth: HS256 is allowed but neither an HS256 secret nor a data dir is configured")
	}
	return loadOrCreateSecret(cfg.DataDir)
}

// Algorithms returns the algorithm allowlist in effect.
func (v *Verifier) Algorithms() []string { return slices.Clone(v.algs) }

// claims are the registered claims plus the checks golang-jwt does not do.
type claims struct {
	jwt.RegisteredClaims
	cutoff  time.Time
	maxLife time.Duration
	now     time.Time
}

// UnmarshalJSON refuses exp, nbf and iat that are not JSON numbers (RFC
// 7519 §2 NumericDate) before decoding the registered claims: golang-jwt
// decodes them through json.Number, which also takes a string such as
// "9999999999", or null, so a token's times would not mean what a strict
// verifier elsewhere reads.
func (c *claims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, k := range []string{"exp", "nbf", "iat"} {
		if v, ok := raw[k]; ok && !isJSONNumber(v) {
			return errTimeNotNumber
		}
	}
	return json.Unmarshal(b, &c.RegisteredClaims)
}

// isJSONNumber reports whether v is a JSON number literal (not a string,
// null, boolean, array or object).
func isJSONNumber(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '-' || '0' <= v[0] && v[0] <= '9')
}

// Validate implements jwt.ClaimsValidator; golang-jwt joins its result
// with the standard claim checks.
func (c *claims) Validate() error {
	var errs []error
	switch {
	case c.Subject == "":
		errs = append(errs, errMissingSubject)
	case !validSubject(c.Subject):
		errs = append(errs, errBadSubject)
	}
	// golang-jwt turns out-of-range numbers (1e300) into times far in the
	// past, which would make a nonsense nbf or iat pass.
	for _, d := range []*jwt.NumericDate{c.ExpiresAt, c.NotBefore, c.IssuedAt} {
		if d != nil && (d.Year() < 1970 || d.Year() > 9999) {
			errs = append(errs, errBadTime)
			break
		}
	}
	if c.ExpiresAt != nil {
		start := c.now
		if c.IssuedAt != nil {
			start = c.IssuedAt.Time
		}
		if c.ExpiresAt.Sub(start) > c.maxLife {
			errs = append(errs, errTooLongLived)
		}
	}
	if !c.cutoff.IsZero() {
		switch {
		case c.IssuedAt == nil:
			errs = append(errs, errMissingIat)
		case c.IssuedAt.Before(c.cutoff):
			errs = append(errs, errRevoked)
		}
	}
	return errors.Join(errs...)
}

// Verify checks a bearer token and returns its subject. A token that is
// valid in every respect but past exp (beyond the leeway) gives an error
// wrapping safereset.ErrAuthExpired; every other failure wraps
// safereset.ErrAuthInvalid. The error text names the reasons and never
// contains any part of the token.
func (v *Verifier) Verify(token string) (string, error) {
	if len(token) > MaxTokenSize {
		return "", errTooLongAuth
	}
	if !compactJWS(token) {
		return "", errNotCompactAuth
	}
	c := &claims{cutoff: v.cutoff, maxLife: v.maxLife, now: v.now()}
	tok, err := v.parser.ParseWithClaims(token, c, v.keyfunc)
	if err == nil {
		return c.Subject, nil
	}
	leafs := leaves(err, nil)
	if onlyExpired(leafs) {
		return "", errExpiredAuth
	}
	return "", fmt.Errorf("jwtauth: %w: %w", safereset.ErrAuthInvalid, v.reasons(tok, c, leafs))
}

// keyfunc picks the one key (or the keys of one family) that may verify
// tok. The key's type always matches the alg, so an HS256 token is only
// ever checked against the HS256 secret, never against public key bytes.
func (v *Verifier) keyfunc(tok *jwt.Token) (any, error) {
	for _, h := range forbiddenHeaders {
		if _, ok := tok.Header[h]; ok {
			return nil, errForbiddenHdr
		}
	}
	alg := tok.Method.Alg()
	kidValue, hasKid := tok.Header["kid"]
	if alg == AlgHS256 {
		if hasKid || v.secret == nil { // the service secret has no kid
			return nil, errUnknownKid
		}
		if len(v.previous) == 0 {
			return v.secret, nil
		}
		keys := []jwt.VerificationKey{v.secret}
		for _, p := range v.previous {
			keys = append(keys, p)
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	}
	if hasKid {
		kid, _ := kidValue.(string)
		k, ok := v.byKid[kid]
		if !ok || k.alg != alg {
			return nil, errUnknownKid
		}
		return k.key, nil
	}
	keys := v.byAlg[alg]
	if len(keys) == 0 {
		return nil, errNoKey
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// compactJWS reports whether s is three non-empty base64url segments, so
// garbage is refused before golang-jwt decodes anything.
func compactJWS(s string) bool {
	dots, segLen := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if segLen == 0 {
				return false
			}
			dots++
			segLen = 0
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
			segLen++
		default:
			return false
		}
	}
	return dots == 2 && segLen > 0
}

// leaves flattens an error tree into the errors that wrap nothing.
func leaves(err error, out []error) []error {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = leaves(inner, out)
		}
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			return leaves(inner, out)
		}
		out = append(out, err)
	default:
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// onlyExpired reports whether the signature was verified and exp was the
// only failed claim check. golang-jwt verifies the signature (and the alg
// and key) before it validates claims, and reports claim failures under
// ErrTokenInvalidClaims, so any other leaf means the token is invalid.
func onlyExpired(leafs []error) bool {
	expired, claimsChecked := false, false
	for _, e := range leafs {
		switch e {
		case jwt.ErrTokenExpired:
			expired = true
		case jwt.ErrTokenInvalidClaims:
			claimsChecked = true
		default:
			return false
		}
	}
	return expired && claimsChecked
}

// reasons names why a token failed, from golang-jwt's error tree and the
// parsed parts. Only fixed texts are kept: details that might quote the
// token (JSON and base64 errors) are dropped.
func (v *Verifier) reasons(tok *jwt.Token, c *claims, leafs []error) error {
	if tok != nil && tok.Header != nil {
		// golang-jwt reports a refused alg as a bad signature; say what it is.
		if alg, _ := tok.Header["alg"].(string); !slices.Contains(v.algs, alg) {
			return errAlgNotAllowed
		}
	}
	own := slices.ContainsFunc(leafs, func(e error) bool { return slices.Contains(ownReasons, e) })
	var keep []error
	add := func(e error) {
		if !slices.Contains(keep, e) {
			keep = append(keep, e)
		}
	}
	for _, e := range leafs {
		switch {
		case e == jwt.ErrTokenUnverifiable && own:
			// Our keyfunc's reason says more.
		case e == jwt.ErrTokenRequiredClaimMissing:
			n := len(keep)
			if c.ExpiresAt == nil {
				add(errMissingExp)
			}
			if v.issuer != "" && c.Issuer == "" {
				add(errMissingIss)
			}
			if v.audience != "" && (len(c.Audience) == 0 || len(c.Audience) == 1 && c.Audience[0] == "") {
				add(errMissingAud)
			}
			if len(keep) == n {
				add(e)
			}
		case slices.Contains(knownReasons, e):
			add(e)
		}
	}
	switch len(keep) {
	case 0:
		return errUnclassified
	case 1:
		return keep[0]
	}
	return reasonList(keep)
}

// reasonList joins reasons on one line (errors.Join would use newlines,
// which split a log line).
type reasonList []error

func (l reasonList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (l reasonList) Unwrap() []error { return l }

// Issue mints an HS256 token for subject with the service's own key: iss
// and aud from the Config (when set), iat and nbf now, exp now+ttl, and a
// random jti. Verify accepts it until it expires.
func (v *Verifier) Issue(subject string, ttl time.Duration) (string, error) {
	if v.secret == nil {
		return "", ErrIssueDisabled
	}
	if !validSubject(subject) {
		return "", ErrInvalidSubject
	}
	if ttl < MinTTL || ttl > min(MaxTTL, v.maxLife) {
		return "", fmt.Errorf("%w (got %s)", ErrInvalidTTL, ttl)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("jwtauth: issue: %w", err)
	}
	now := v.now()
	rc := jwt.RegisteredClaims{
		Issuer:    v.issuer,
		Subject:   subject,
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
	}
	if v.audience != "" {
		rc.Audience = jwt.ClaimStrings{v.audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, rc).SignedString(v.secret)
	if err != nil {
		return "", fmt.Errorf("jwtauth: issue: %w", err)
	}
	return s, nil
}

// validSubject: the subject is a log field and the client identity in
// metrics, so it must be short, printable and unambiguous.
func validSubject(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxSubjectLen {
		return false
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ParseTime parses the --jwt-not-before cut-off, an RFC 3339 time such as
// "2026-01-02T15:04:05Z". The empty string means no cut-off and gives the
// zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		return time.Time{}, fmt.Errorf("jwtauth: not-before %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", s)
	}
	return t, nil
}
