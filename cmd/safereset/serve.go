package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/term"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/jwtauth"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/password"
	"github.com/safereset/safereset/ratelimit"
	"github.com/safereset/safereset/server"
	"github.com/safereset/safereset/store"
)

// memoryHeadroom is the soft memory limit above the argon2id budget: the
// runtime, the mapped default filter, connection buffers and zxcvbn.
const memoryHeadroom = 48 << 20

// serveConfig is every setting of `safereset serve`.
type serveConfig struct {
	addr, adminAddr, dataDir string
	breachFilter             string
	breachInMemory           bool
	minStrength              int

	smtpURL, smtpCAFile, mailFrom, resetURL, mailTemplates string
	smtpTimeout, confirmTimeout                            time.Duration
	mailRetryBase, mailRetryMax                            time.Duration

	tokenTTL        time.Duration
	requestFloor    time.Duration
	maxConnsPerIP   int
	argonMemory     uint
	argonTime       uint
	argonThreads    uint
	hashConcurrency int

	trustedProxies, forwardedHeader          string
	rateRequestEmail, rateResetEmail, rateIP string

	jwtSecretFile, jwtPublicKeys, jwtJWKS, jwtIssuer, jwtAudience, jwtAlgorithms, jwtNotBefore string
	jwtLeeway, jwtMaxLifetime                                                                  time.Duration

	logFormat, logLevel string
	shutdownTimeout     time.Duration

	events eventConfig
}

func serveFlags(stderr io.Writer) (*serveConfig, *flag.FlagSet) {
	c := &serveConfig{}
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&c.addr, "addr", ":8080", "public API listen address")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:9090", "ops listener (metrics, health, admin API) address")
	fs.StringVar(&c.dataDir, "data-dir", "./safereset-data", "directory for the database and generated secrets")
	fs.StringVar(&c.breachFilter, "breach-filter", "", "breach filter file built by `safereset breach build` (default: the embedded common-password list)")
	fs.BoolVar(&c.breachInMemory, "breach-in-memory", false, "after start-up, copy the mapped filter into huge-page memory in the background (costs its size in RAM; helps when the file sits in the page cache on small pages)")
	fs.IntVar(&c.minStrength, "min-strength", 3, "minimum zxcvbn score 0-4 for a new password (0 disables)")
	fs.StringVar(&c.smtpURL, "smtp-url", "", "smtp://user:pass@host:port (STARTTLS when offered; ?starttls=required) or smtps://; empty writes .eml files to <data-dir>/outbox")
	fs.StringVar(&c.smtpCAFile, "smtp-ca-file", "", "PEM CA bundle for a private SMTP relay")
	fs.DurationVar(&c.smtpTimeout, "smtp-timeout", 30*time.Second, "timeout of one SMTP delivery attempt")
	fs.StringVar(&c.mailFrom, "mail-from", "safereset@localhost", "From address of the mails")
	fs.StringVar(&c.resetURL, "reset-url", "http://localhost:8080/reset?token={token}&email={email}", "link in the token mail; {token} and {email} are replaced, URL-escaped")
	fs.StringVar(&c.mailTemplates, "mail-templates", "", "directory with token.txt, token.html, confirmation.txt, confirmation.html overriding the built-in templates")
	fs.DurationVar(&c.mailRetryBase, "mail-retry-base", 2*time.Second, "first retry delay of an undelivered token mail (doubles, with jitter)")
	fs.DurationVar(&c.mailRetryMax, "mail-retry-max", 10*time.Minute, "longest retry delay of an undelivered token mail")
	fs.DurationVar(&c.confirmTimeout, "confirm-timeout", 10*time.Second, "timeout for sending the confirmation mail (ER355 after it)")
	fs.DurationVar(&c.tokenTTL, "token-ttl", time.Hour, "lifetime of a reset token")
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
	fs.StringVar(&c.logFormat, "log-format", "auto", "log format: json, text, or auto (text on a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGTERM")
	addEventFlags(fs, &c.events)
	return c, fs
}

// validate refuses settings that would make the service misbehave rather
// than fail, before anything is opened.
func (c *serveConfig) validate() error {
	switch {
	case c.tokenTTL < time.Second || c.tokenTTL > 7*24*time.Hour:
		return errors.New("--token-ttl must be between 1s and 168h")
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
	}
	return c.events.validate()
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not json, text or auto", format)
}

// loadOrCreateSecretFile returns the trimmed contents of path, creating it
// with n random bytes (hex) and mode 0600 when it does not exist.
func loadOrCreateSecretFile(path string, n int) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return "", fmt.Errorf("%s holds fewer than 32 characters; delete it to have a new one generated", path)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s is readable by other users (mode %v); chmod 600 it", path, fi.Mode().Perm())
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, n)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	s := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", err
	}
	return s, f.Close()
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	c, fs := serveFlags(stderr)
	if err := parseFlags(fs, args, getenv, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return exitError{code: 2, msg: fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0))}
	}
	if err := c.validate(); err != nil {
		return err
	}
	logger, err := newLogger(stderr, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	now := time.Now

	// Everything that can be refused is checked before the database opens,
	// so bad configuration fails fast and leaves nothing behind.
	params := password.Params{Memory: uint32(c.argonMemory), Time: uint32(c.argonTime), Threads: uint8(c.argonThreads),
		SaltLen: password.DefaultParams.SaltLen, KeyLen: password.DefaultParams.KeyLen}
	// Each argon2id hash allocates its memory afresh; left to GOGC alone the
	// heap may grow to twice the hashes in flight plus their garbage. A
	// soft limit sized from the hashing budget keeps resident memory near
	// hash-concurrency × argon2 memory + headroom under a flood. GOMEMLIMIT
	// in the environment, when set, wins.
	if getenv("GOMEMLIMIT") == "" {
		limit := int64(c.hashConcurrency)*int64(c.argonMemory)*1024 + memoryHeadroom
		debug.SetMemoryLimit(limit)
	}
	reg := prometheus.NewRegistry()
	var m *metrics.Metrics // set below; the hasher hook reads it lazily
	hasher, err := password.NewHasher(params, c.hashConcurrency, func() func() { return m.HashStarted() })
	if err != nil {
		return fmt.Errorf("password hashing: %w", err)
	}

	adminToken := getenv("SAFERESET_ADMIN_TOKEN")
	if adminToken == "" {
		if adminToken, err = loadOrCreateSecretFile(filepath.Join(c.dataDir, "admin.token"), 32); err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
	} else if len(adminToken) < 32 {
		return errors.New("SAFERESET_ADMIN_TOKEN must be at least 32 characters")
	}

	db, err := store.Open(filepath.Join(c.dataDir, "safereset.db"), store.Options{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()

	checker, err := openBreach(c, now)
	if err != nil {
		return err
	}
	defer checker.Close()
	// The words' checksum is verified in the background so start-up does
	// not wait for a multi-GiB read; until it passes the service is not
	// ready, and a mismatch stops it (fail closed). The read also pages the
	// filter in, so the first requests do not pay for cold pages.
	var filterVerified atomic.Bool
	verifyErr := make(chan error, 1)
	go func() {
		// Checker.Verify checks the filter being served, even if a reload
		// swaps it meanwhile.
		if err := checker.Verify(); err != nil {
			verifyErr <- fmt.Errorf("breach filter %s: %w", c.breachFilter, err)
			return
		}
		filterVerified.Store(true)
	}()

	composer, err := mail.NewComposer(mail.ComposerConfig{ResetURL: c.resetURL, TemplateDir: c.mailTemplates, Product: "safereset"})
	if err != nil {
		return fmt.Errorf("mail templates: %w", err)
	}
	var sender safereset.Sender
	if c.smtpURL != "" {
		if sender, err = mail.NewSMTPSender(mail.SMTPConfig{URL: c.smtpURL, From: c.mailFrom, CAFile: c.smtpCAFile, Timeout: c.smtpTimeout}); err != nil {
			return fmt.Errorf("--smtp-url: %w", err)
		}
	} else {
		if sender, err = mail.NewDirSender(filepath.Join(c.dataDir, "outbox"), mail.WithFrom(c.mailFrom), mail.WithClock(now)); err != nil {
			return fmt.Errorf("outbox dir: %w", err)
		}
	}

	limiter, proxies, err := newLimiter(c)
	if err != nil {
		return err
	}
	verifier, err := newVerifier(c, now)
	if err != nil {
		return err
	}

	publisher, deliverer, err := newEvents(&c.events, c.dataDir, now)
	if err != nil {
		return err
	}

	m = metrics.New(reg, metrics.Sources{
		Filter: checker.Info,
		Outbox: func() (int, time.Time, error) { return db.OutboxStats(context.Background()) },
		Now:    now,
	})
	worker := mail.NewWorker(mail.WorkerConfig{Store: db, Sender: sender, Webhooks: webhookSender(deliverer), Metrics: m, Logger: logger, Now: now, SendTimeout: c.smtpTimeout,
		BaseBackoff: c.mailRetryBase, MaxBackoff: c.mailRetryMax})

	deps := server.Deps{
		Store: db, Breach: checker, Composer: composer, Sender: sender, NotifyOutbox: worker.Notify, Events: eventPublisher(publisher),
		Limiter: limiter, ClientIP: clientIPFunc(proxies, c.forwardedHeader), Hasher: hasher, Metrics: m, Logger: logger, Now: now,
		TokenTTL: c.tokenTTL, MaxOutstanding: 3, ConfirmTimeout: c.confirmTimeout, RequestFloor: c.requestFloor,
		MaxConnsPerIP: c.maxConnsPerIP,
	}
	if verifier != nil {
		deps.Verifier = verifier
	}
	public, err := server.NewPublic(deps)
	if err != nil {
		return err
	}
	reload := func(path string) (safereset.FilterInfo, error) {
		// "" re-reads the current source. VerifyOnReload: a new file's checksum is verified in full, on the
		// same open that is then served, before it replaces a good one.
		if err := checker.Reload(path); err != nil {
			return checker.Info(), err
		}
		return checker.Info(), nil
	}
	ops := server.Ops{
		AdminToken: adminToken,
		Metrics:    promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Ready: func() []string {
			var reasons []string
			if err := db.Ping(context.Background()); err != nil {
				reasons = append(reasons, "database: "+err.Error())
			}
			if checker.Info().Bits == 0 {
				reasons = append(reasons, "breach filter not loaded")
			} else if !filterVerified.Load() {
				reasons = append(reasons, "breach filter: verifying checksum")
			}
			if !worker.Alive() {
				reasons = append(reasons, "outbox worker not running")
			}
			return reasons
		},
		FilterInfo:   checker.Info,
		ReloadBreach: reload,
	}
	if verifier != nil {
		ops.IssueJWT = verifier.Issue
	}
	opsApp, err := server.NewOps(deps, ops)
	if err != nil {
		return err
	}

	publicLn, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	opsLn, err := net.Listen("tcp", c.adminAddr)
	if err != nil {
		publicLn.Close()
		return fmt.Errorf("--admin-addr: %w", err)
	}

	workerCtx, stopWorker := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := worker.Run(workerCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("outbox worker: %w", err)
		}
	}()
	serve := func(app *fiber.App, ln net.Listener, name string) {
		if err := app.Listener(ln); err != nil {
			errc <- fmt.Errorf("%s listener: %w", name, err)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sweepAudit(workerCtx, db, c.events.auditRetention, now, logger)
	}()
	go serve(public, publicLn, "public")
	go serve(opsApp, opsLn, "ops")

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	info := checker.Info()
	logger.Info("safereset started", "version", version, "addr", publicLn.Addr().String(), "admin_addr", opsLn.Addr().String(),
		"data_dir", c.dataDir, "breach_source", info.Source, "breach_elements", info.Elements, "smtp", c.smtpURL != "")

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case err := <-verifyErr:
			logger.Error("breach filter failed verification; stopping (fail closed)", "error", err.Error())
			runErr = err
			break loop
		case <-hup:
			// SIGHUP re-reads the configured file (an operator replaced it).
			if _, err := reload(c.breachFilter); err != nil {
				logger.Error("breach filter reload on SIGHUP failed; the old filter stays", "error", err.Error())
			} else {
				i := checker.Info()
				logger.Info("breach filter reloaded on SIGHUP", "source", i.Source, "elements", i.Elements)
				if recordReload(ctx, db, deps.Events, i, logger) {
					worker.Notify()
				}
			}
		}
	}

	logger.Info("shutting down", "timeout", c.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	// Stop taking requests first and let in-flight ones finish; only then
	// stop the worker, so a token mail queued by a last request is either
	// sent now or kept in the outbox for the next start.
	if err := server.Shutdown(sctx, public); err != nil {
		logger.Error("public listener shutdown", "error", err.Error())
	}
	if err := server.Shutdown(sctx, opsApp); err != nil {
		logger.Error("ops listener shutdown", "error", err.Error())
	}
	stopWorker()
	wg.Wait()
	logger.Info("stopped")
	return runErr
}

func openBreach(c *serveConfig, now func() time.Time) (*breach.Checker, error) {
	var (
		f   *breach.Filter
		err error
	)
	if c.breachFilter == "" {
		f, err = breach.OpenDefault()
	} else {
		f, err = breach.Open(c.breachFilter)
	}
	if err != nil {
		return nil, fmt.Errorf("breach filter: %w", err)
	}
	return breach.NewChecker(f, breach.CheckerOptions{MinScore: c.minStrength, VerifyOnReload: true, CopyToMemory: c.breachInMemory, Now: now}), nil
}

func newLimiter(c *serveConfig) (safereset.Limiter, ratelimit.Proxies, error) {
	proxies, err := ratelimit.ParseTrustedProxies(c.trustedProxies)
	if err != nil {
		return nil, proxies, fmt.Errorf("--trusted-proxies: %w", err)
	}
	secret, err := ratelimit.LoadOrCreateSecret(c.dataDir)
	if err != nil {
		return nil, proxies, fmt.Errorf("rate limit secret: %w", err)
	}
	l, err := ratelimit.New(ratelimit.Config{
		RequestPerEmail: c.rateRequestEmail, ResetPerEmail: c.rateResetEmail, PerIP: c.rateIP, Secret: secret,
	})
	if err != nil {
		return nil, proxies, fmt.Errorf("rate limits: %w", err)
	}
	return l, proxies, nil
}

// clientIPFunc reads the client address from the one header the trusted
// proxy is configured to set; the other header is whatever the client sent
// and is ignored.
func clientIPFunc(p ratelimit.Proxies, header string) func(net.IP, []string, []string) net.IP {
	if header == "forwarded" {
		return func(peer net.IP, _, fwd []string) net.IP { return p.ClientIP(peer, nil, fwd) }
	}
	return func(peer net.IP, xff, _ []string) net.IP { return p.ClientIP(peer, xff, nil) }
}

func newVerifier(c *serveConfig, now func() time.Time) (*jwtauth.Verifier, error) {
	cfg := jwtauth.Config{
		DataDir: c.dataDir, PublicKeyFile: c.jwtPublicKeys, JWKSFile: c.jwtJWKS,
		Issuer: c.jwtIssuer, Audience: c.jwtAudience, Leeway: c.jwtLeeway, MaxLifetime: c.jwtMaxLifetime, Now: now,
	}
	if c.jwtSecretFile != "" {
		b, err := os.ReadFile(c.jwtSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--jwt-secret-file: %w", err)
		}
		cfg.HS256Secret = []byte(strings.TrimSpace(string(b)))
	}
	if c.jwtAlgorithms != "" {
		for _, a := range strings.Split(c.jwtAlgorithms, ",") {
			cfg.Algorithms = append(cfg.Algorithms, strings.TrimSpace(a))
		}
	}
	if c.jwtNotBefore != "" {
		t, err := jwtauth.ParseTime(c.jwtNotBefore)
		if err != nil {
			return nil, fmt.Errorf("--jwt-not-before: %w", err)
		}
		cfg.NotBefore = t
	}
	v, err := jwtauth.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return v, nil
}
