package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/clientip"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/password"
	"github.com/safereset/safereset/postgres"
)

// serveConfig is every setting of `safereset serve`.
type serveConfig struct {
	addr, adminAddr, dataDir string
	breachFilter             string
	breachInMemory           bool
	minStrength              int
	breachExact              string
	breachMinCount           uint64
	rangeAddr, rateRange     string

	smtpURL, smtpCAFile, mailFrom, resetURL, mailTemplates string
	smtpTimeout, confirmTimeout                            time.Duration
	mailRetryBase, mailRetryMax                            time.Duration

	tokenTTL        time.Duration
	maxOutstanding  int
	passwordHistory int
	requestFloor    time.Duration
	maxConnsPerIP   int
	argonMemory     uint
	argonTime       uint
	argonThreads    uint
	hashConcurrency int

	trustedProxies, forwardedHeader          string
	clientIP                                 clientip.Resolver // from the two above
	rateRequestEmail, rateResetEmail, rateIP string

	adminTokenFile, smtpPasswordFile string

	jwtSecretFile, jwtPublicKeys, jwtJWKS, jwtIssuer, jwtAudience, jwtAlgorithms, jwtNotBefore string
	jwtLeeway, jwtMaxLifetime                                                                  time.Duration

	databaseURL, ratelimitURL string
	mailLease                 time.Duration

	logFormat, logLevel string
	logFlush            time.Duration
	shutdownTimeout     time.Duration

	resetPage                  bool
	productName, defaultLocale string
	events                     eventConfig
	lock                       lockConfig
}

func serveFlags(stderr io.Writer) (*serveConfig, *flag.FlagSet) {
	c := &serveConfig{}
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&c.addr, "addr", ":8080", "public API listen address")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:9090", "ops listener (metrics, health, admin API) address")
	fs.StringVar(&c.dataDir, "data-dir", "./safereset-data", "directory for the database and generated secrets")
	fs.StringVar(&c.breachFilter, "breach-filter", "", "breach filter file built by `safereset breach build` (default: the embedded common-password list)")
	fs.BoolVar(&c.breachInMemory, "breach-in-memory", false, "after start-up, copy the mapped filter into huge-page memory in the background (costs its size in RAM; helps when the file sits in the page cache on small pages)")
	fs.StringVar(&c.breachExact, "breach-exact", "", "exact store built by `safereset breach build --exact`: confirms every filter hit (no false positives) and serves --range-addr")
	fs.Uint64Var(&c.breachMinCount, "breach-min-count", 1, "with --breach-exact, refuse only passwords seen at least this many times")
	fs.StringVar(&c.rangeAddr, "range-addr", "", "listen address of the Pwned Passwords range API (GET /range/{prefix}); needs --breach-exact; empty: off")
	fs.StringVar(&c.rateRange, "rate-range", "600-M", "range API limit per client IP (0 disables)")
	fs.IntVar(&c.minStrength, "min-strength", 3, "minimum zxcvbn score 0-4 for a new password (0 disables)")
	fs.StringVar(&c.smtpURL, "smtp-url", "", "smtp://user:pass@host:port (with credentials STARTTLS is required; ?starttls=none opts out, sending them in clear) or smtps://; empty writes .eml files to <data-dir>/outbox")
	fs.StringVar(&c.smtpPasswordFile, "smtp-password-file", "", "file holding the SMTP password, so it need not sit in --smtp-url where /proc/<pid>/cmdline shows it (--smtp-url then names only the user)")
	fs.StringVar(&c.adminTokenFile, "admin-token-file", "", "file holding the admin token (at least 32 characters); default: SAFERESET_ADMIN_TOKEN, else <data-dir>/admin.token, generated")
	fs.StringVar(&c.smtpCAFile, "smtp-ca-file", "", "PEM CA bundle for a private SMTP relay")
	fs.DurationVar(&c.smtpTimeout, "smtp-timeout", 30*time.Second, "timeout of one SMTP delivery attempt")
	fs.StringVar(&c.mailFrom, "mail-from", "safereset@localhost", "From address of the mails")
	fs.StringVar(&c.resetURL, "reset-url", "http://localhost:8080/reset?token={token}&email={email}", "link in the token mail; {token} and {email} are replaced, URL-escaped")
	fs.StringVar(&c.mailTemplates, "mail-templates", "", "directory with token.txt, token.html, confirmation.txt, confirmation.html overriding the built-in templates")
	fs.DurationVar(&c.mailRetryBase, "mail-retry-base", 2*time.Second, "first retry delay of an undelivered token mail (doubles, with jitter)")
	fs.DurationVar(&c.mailRetryMax, "mail-retry-max", 10*time.Minute, "longest retry delay of an undelivered token mail")
	fs.DurationVar(&c.confirmTimeout, "confirm-timeout", 10*time.Second, "timeout for sending the confirmation mail (ER355 after it)")
	fs.DurationVar(&c.tokenTTL, "token-ttl", time.Hour, "lifetime of a reset token")
	fs.IntVar(&c.passwordHistory, "password-history", 0, "refuse (ER349) a new password matching one of the account's last N password hashes, the current one included (0-24; PCI DSS 8.3.7 asks for 4; 0: off)")
	fs.IntVar(&c.maxOutstanding, "max-outstanding-tokens", 3, "unexpired reset tokens one account may hold; a new request beyond it replaces the oldest")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", 256, "open connections allowed from one client address on each listener (0: unlimited; raise it behind a proxy that does not pool)")
	fs.DurationVar(&c.requestFloor, "request-min-duration", 25*time.Millisecond, "least time a valid token request takes to answer, known address or not (hides the timing difference; 0 disables)")
	fs.UintVar(&c.argonMemory, "argon2-memory", uint(password.DefaultParams.Memory), "argon2id memory in KiB")
	fs.UintVar(&c.argonTime, "argon2-time", uint(password.DefaultParams.Time), "argon2id iterations")
	fs.UintVar(&c.argonThreads, "argon2-parallelism", uint(password.DefaultParams.Threads), "argon2id parallelism")
	fs.IntVar(&c.hashConcurrency, "hash-concurrency", runtime.GOMAXPROCS(0), "argon2id hashes computed at once (bounds memory)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose X-Forwarded-For/Forwarded is believed")
	fs.StringVar(&c.forwardedHeader, "forwarded-header", "x-forwarded-for", "header a trusted proxy reports the client in: x-forwarded-for or forwarded (the other is ignored, so a client cannot pass its own through)")
	fs.StringVar(&c.rateRequestEmail, "rate-request-email", "3-H", "POST limit per email address (N-S|M|H|D; 0 disables)")
	fs.StringVar(&c.rateResetEmail, "rate-reset-email", "10-H", "PATCH limit per email address (0 disables)")
	fs.StringVar(&c.rateIP, "rate-ip", "60-M", "limit per client IP on each route (0 disables)")
	fs.StringVar(&c.jwtSecretFile, "jwt-secret-file", "", "file holding the HS256 secret (at least 32 bytes); default: generated into <data-dir>/jwt.key")
	fs.StringVar(&c.jwtPublicKeys, "jwt-public-keys", "", "PEM file with RS256/ES256/EdDSA public keys")
	fs.StringVar(&c.jwtJWKS, "jwt-jwks", "", "JWKS file with public keys selected by kid")
	fs.StringVar(&c.jwtIssuer, "jwt-issuer", "", "required iss of client JWTs (and iss of issued ones)")
	fs.StringVar(&c.jwtAudience, "jwt-audience", "", "required aud of client JWTs")
	fs.StringVar(&c.jwtAlgorithms, "jwt-algorithms", "", "comma-separated JWT algorithm allowlist (default: HS256 plus those of the configured keys)")
	fs.DurationVar(&c.jwtLeeway, "jwt-leeway", 30*time.Second, "clock-skew leeway for exp, nbf and iat")
	fs.DurationVar(&c.jwtMaxLifetime, "jwt-max-lifetime", 720*time.Hour, "longest lifetime (exp - iat) of a client JWT that is accepted")
	fs.StringVar(&c.jwtNotBefore, "jwt-not-before", "", "RFC 3339 time; JWTs issued before it are rejected (revokes all older tokens)")
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL database shared by every replica (postgres://user@host/db, postgresql://… or a key=value DSN); empty keeps the bbolt file <data-dir>/safereset.db")
	fs.StringVar(&c.ratelimitURL, "ratelimit-url", "", "Redis for the rate limits (redis://host:port/db or rediss://…); empty: in memory with bbolt, in the database with --database-url")
	fs.DurationVar(&c.mailLease, "mail-lease", mail.DefaultLease, "how long a claimed outbox mail stays with one replica before another may send it")
	fs.StringVar(&c.logFormat, "log-format", "auto", "log format: json, text, or auto (text on a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.logFlush, "log-flush", 100*time.Millisecond, "write info lines in batches at most this often (warnings and errors at once); 0 writes every line at once")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGTERM")
	fs.BoolVar(&c.resetPage, "reset-page", true, "serve the reset page at /reset, where the emailed link lands (false for deployments that host their own)")
	fs.StringVar(&c.productName, "product-name", "safereset", "name of the service in mail subjects, mail bodies and the reset page")
	fs.StringVar(&c.defaultLocale, "default-locale", "en", "language of the reset page when the browser asks for none of en, nl, de, fr, es, and of the mails of users without a locale")
	addEventFlags(fs, &c.events)
	addLockFlags(fs, &c.lock)
	return c, fs
}

// validate refuses settings that would make the service misbehave rather
// than fail, before anything is opened.
func (c *serveConfig) validate() error {
	switch {
	case c.tokenTTL < time.Second || c.tokenTTL > 7*24*time.Hour:
		return errors.New("--token-ttl must be between 1s and 168h")
	case c.logFlush < 0 || c.logFlush > 10*time.Second:
		return errors.New("--log-flush must be between 0 and 10s")
	case c.confirmTimeout <= 0 || c.smtpTimeout <= 0 || c.shutdownTimeout <= 0:
		return errors.New("--confirm-timeout, --smtp-timeout and --shutdown-timeout must be positive")
	case c.mailRetryBase <= 0 || c.mailRetryMax < c.mailRetryBase:
		return errors.New("--mail-retry-base must be positive and at most --mail-retry-max")
	case c.requestFloor < 0 || c.requestFloor > 5*time.Second:
		return errors.New("--request-min-duration must be between 0 and 5s")
	case c.forwardedHeader != "x-forwarded-for" && c.forwardedHeader != "forwarded":
		return errors.New("--forwarded-header must be x-forwarded-for or forwarded")
	case c.maxConnsPerIP < 0:
		return errors.New("--max-conns-per-ip must not be negative")
	case c.hashConcurrency < 1 || c.hashConcurrency > 1024:
		return errors.New("--hash-concurrency must be between 1 and 1024")
	case c.argonThreads > 255:
		return errors.New("--argon2-parallelism must be at most 255")
	case c.minStrength < 0 || c.minStrength > 4:
		return errors.New("--min-strength must be 0 to 4")
	case c.databaseURL != "" && !postgres.IsURL(c.databaseURL):
		return errors.New("--database-url must be a postgres:// or postgresql:// URL or a key=value DSN")
	case c.ratelimitURL != "" && !strings.HasPrefix(c.ratelimitURL, "redis://") && !strings.HasPrefix(c.ratelimitURL, "rediss://"):
		return errors.New("--ratelimit-url must be a redis:// or rediss:// URL")
	case c.mailLease < 2*c.smtpTimeout:
		return errors.New("--mail-lease must be at least twice --smtp-timeout")
	case c.passwordHistory < 0 || c.passwordHistory > safereset.MaxPasswordHistory:
		return fmt.Errorf("--password-history must be between 0 and %d", safereset.MaxPasswordHistory)
	case c.maxOutstanding < 1 || c.maxOutstanding > 100:
		return errors.New("--max-outstanding-tokens must be between 1 and 100")
	case c.argonMemory > math.MaxUint32 || c.argonTime > math.MaxUint32:
		return errors.New("password hashing: --argon2-memory or --argon2-time is out of range")
	}
	if err := c.validatePage(); err != nil {
		return err
	}
	if err := c.validateExact(); err != nil {
		return err
	}
	if err := c.argonParams().Validate(); err != nil {
		return fmt.Errorf("password hashing: %w", err)
	}
	return c.events.validate()
}

// argonParams are the argon2id parameters of new hashes.
func (c *serveConfig) argonParams() password.Params {
	return password.Params{Memory: uint32(c.argonMemory), Time: uint32(c.argonTime), Threads: uint8(c.argonThreads),
		SaltLen: password.DefaultParams.SaltLen, KeyLen: password.DefaultParams.KeyLen}
}

// parseServe reads the flags and environment of `safereset serve` and
// refuses settings that cannot work, before anything is built.
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, error) {
	c, fs := serveFlags(stderr)
	if err := parseFlags(fs, args, getenv, stderr); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, exitError{code: 2, msg: fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0))}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	var err error
	if c.clientIP, err = clientip.NewResolver(c.trustedProxies, c.forwardedHeader); err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	return c, nil
}

// newLogger builds the server's logger on w. With flush > 0 lines are
// written in batches (lineBuffer): close writes out what is kept, and must
// run before the process exits.
func newLogger(w io.Writer, format, level string, flush time.Duration) (logger *slog.Logger, close func(), err error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	text := false
	switch format {
	case "json":
	case "text":
		text = true
	case "auto":
		f, ok := w.(*os.File)
		text = ok && term.IsTerminal(int(f.Fd()))
	default:
		return nil, nil, fmt.Errorf("--log-format: %q is not json, text or auto", format)
	}
	close = func() {}
	var buf *lineBuffer
	if flush > 0 {
		buf = newLineBuffer(w, flush)
		w, close = buf, buf.Close
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if text {
		h = slog.NewTextHandler(w, opts)
	}
	if buf != nil {
		h = flushOnWarn{h, buf}
	}
	return slog.New(h), close, nil
}
