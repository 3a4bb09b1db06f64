package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/internal/secretfile"
	"github.com/safereset/safereset/jwtauth"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/password"
	"github.com/safereset/safereset/ratelimit"
	"github.com/safereset/safereset/server"
)

// service is every long-lived part of `safereset serve`, each built once.
type service struct {
	db      engine
	checker *verifiedChecker
	worker  *mail.Worker
	srv     *server.Server
	ranges  *server.RangeServer      // nil without --range-addr
	events  safereset.EventPublisher // nil without --webhook-url
	closers []func() error
	// limiterPing checks a remote rate-limit store (Redis); nil otherwise.
	limiterPing func(context.Context) error

	adminTokens *server.AdminTokens
	adminSource adminTokenSource
}

// Close releases what wire opened, last opened first.
func (s *service) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
}

// wire builds the service from validated settings. Everything that can be
// refused without side effects was checked by parseServe; on error, what
// was opened is closed again.
func wire(c *serveConfig, getenv func(string) string, logger *slog.Logger) (_ *service, err error) {
	s := &service{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	now := time.Now
	setMemoryLimit(c, getenv)

	adminToken, err := adminToken(c, getenv)
	if err != nil {
		return nil, err
	}
	s.adminSource = newAdminTokenSource(c, getenv)
	if s.adminTokens, err = server.NewAdminTokens(adminToken, now); err != nil {
		return nil, err
	}
	if s.db, err = openEngine(c); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.db.Close)
	if s.checker, err = openBreach(c, now); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.checker.Close)

	composers, err := mail.NewLocalized(c.lock.composerLock(mail.ComposerConfig{ResetURL: c.resetURL, TemplateDir: c.mailTemplates, Product: c.productName}), c.defaultLocale)
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	sender, err := newSender(c, now)
	if err != nil {
		return nil, err
	}
	limiter, err := newLimiter(c, s)
	if err != nil {
		return nil, err
	}
	verifier, err := newVerifier(c, now, s.db)
	if err != nil {
		return nil, err
	}

	publisher, deliverer, err := newEvents(&c.events, c.dataDir, s.db, now)
	if err != nil {
		return nil, err
	}
	s.events = eventPublisher(publisher)

	// The readiness checks are built below; the gauge asks them on scrape.
	var ready []server.Pinger
	m := metrics.New(metrics.Sources{
		Ready:  func() bool { return pingAll(ready) },
		Filter: s.checker.Info,
		Outbox: func() (int, time.Time, error) { return s.db.OutboxStats(context.Background()) },
		Now:    now,
		Exact:  exactCounts(s.checker.Checker),
	})
	hasher, err := password.NewHasher(c.argonParams(), c.hashConcurrency, m.HashStarted)
	if err != nil {
		return nil, fmt.Errorf("password hashing: %w", err)
	}
	s.worker = mail.NewWorker(mail.WorkerConfig{Store: s.db, Sender: sender, Webhooks: webhookSender(deliverer), Metrics: m, Logger: logger, Now: now, SendTimeout: c.smtpTimeout,
		Lease: c.mailLease, BaseBackoff: c.mailRetryBase, MaxBackoff: c.mailRetryMax})

	labelKey, err := secretfile.LoadOrCreate(filepath.Join(c.dataDir, labelKeyFile), newLabelKey)
	if err != nil {
		return nil, fmt.Errorf("client label key: %w", err)
	}
	deps := server.Deps{
		Store: s.db, Breach: s.checker, Composer: composers.For(c.defaultLocale), ComposerFor: composers.For, Sender: sender, NotifyOutbox: s.worker.Notify, Events: s.events, Verifier: verifier,
		Limiter: limiter, ClientIP: c.clientIP, Hasher: hasher, Metrics: m, Logger: logger, Now: now,
		TokenTTL: c.tokenTTL, MaxOutstanding: c.maxOutstanding, ConfirmTimeout: c.confirmTimeout, RequestFloor: c.requestFloor,
		MaxConnsPerIP: c.maxConnsPerIP, LabelKey: labelKey, PasswordHistory: c.passwordHistory,
	}
	if c.passwordHistory > 0 {
		keeper, ok := s.db.(safereset.PasswordHistoryKeeper)
		if !ok {
			return nil, errors.New("--password-history: this store engine keeps no password history")
		}
		keeper.KeepPasswordHistory(c.passwordHistory)
	}
	if deps.ResetPage, err = resetPage(c); err != nil {
		return nil, err
	}
	ready = []server.Pinger{
		server.PingerFunc(func(ctx context.Context) error {
			if err := s.db.Ping(ctx); err != nil {
				return &server.NotReady{Reason: "database unreachable", Err: err}
			}
			return nil
		}),
		s.checker,
		server.PingerFunc(func(ctx context.Context) error {
			if s.limiterPing == nil {
				return nil
			}
			if err := s.limiterPing(ctx); err != nil {
				return &server.NotReady{Reason: "rate-limit store unreachable", Err: err}
			}
			return nil
		}),
		server.PingerFunc(func(context.Context) error {
			if !s.worker.Alive() {
				return errors.New("outbox worker not running")
			}
			return nil
		}),
	}
	ops := server.Ops{
		AdminTokens:      s.adminTokens,
		RotateAdminToken: s.adminSource.rotate,
		Metrics:          m.Handler(),
		Ready:            ready,
		Breach:           s.checker,
		IssueJWT:         verifier.Issue,
	}
	if s.srv, err = server.New(deps, ops); err != nil {
		return nil, err
	}
	if s.ranges, err = newRangeServer(c, s.checker, limiter, m, logger); err != nil {
		return nil, err
	}
	return s, nil
}

// memoryHeadroom is the soft memory limit above the argon2id budget: the
// runtime, the mapped default filter, connection buffers and zxcvbn.
const memoryHeadroom = 48 << 20

// setMemoryLimit sizes the soft memory limit from the hashing budget. Each
// argon2id hash allocates its memory afresh; left to GOGC alone the heap
// may grow to twice the hashes in flight plus their garbage. The limit
// keeps resident memory near hash-concurrency × argon2 memory + headroom
// under a flood. GOMEMLIMIT in the environment, when set, wins.
func setMemoryLimit(c *serveConfig, getenv func(string) string) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(c.hashConcurrency)*int64(c.argonMemory)*1024 + memoryHeadroom)
	}
}

func adminToken(c *serveConfig, getenv func(string) string) (string, error) {
	token := getenv("SAFERESET_ADMIN_TOKEN")
	if c.adminTokenFile != "" {
		b, err := secretfile.Read(c.adminTokenFile)
		if err != nil {
			return "", fmt.Errorf("--admin-token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); len(token) < 32 {
			return "", fmt.Errorf("--admin-token-file %s holds fewer than 32 characters", c.adminTokenFile)
		}
		return token, nil
	}
	if token == "" {
		t, err := loadAdminToken(filepath.Join(c.dataDir, adminTokenFile))
		if err != nil {
			return "", fmt.Errorf("admin token: %w", err)
		}
		return t, nil
	}
	if len(token) < 32 {
		return "", errors.New("SAFERESET_ADMIN_TOKEN must be at least 32 characters")
	}
	return token, nil
}

func newSender(c *serveConfig, now func() time.Time) (safereset.Sender, error) {
	if c.smtpURL != "" {
		smtpURL, err := withSMTPPassword(c.smtpURL, c.smtpPasswordFile)
		if err != nil {
			return nil, err
		}
		sender, err := mail.NewSMTPSender(mail.SMTPConfig{URL: smtpURL, From: c.mailFrom, CAFile: c.smtpCAFile, Timeout: c.smtpTimeout})
		if err != nil {
			return nil, fmt.Errorf("--smtp-url: %w", err)
		}
		return sender, nil
	}
	sender, err := mail.NewDirSender(filepath.Join(c.dataDir, "outbox"), mail.WithFrom(c.mailFrom), mail.WithClock(now))
	if err != nil {
		return nil, fmt.Errorf("outbox dir: %w", err)
	}
	return sender, nil
}

// verifiedChecker is the breach checker with the state of its background
// checksum verification. Until the checksum of the words has passed, the
// service is not ready; a mismatch stops it (fail closed). The read also
// pages the filter in, so the first requests do not pay for cold pages.
type verifiedChecker struct {
	*breach.Checker
	verified atomic.Bool
}

// verify checks the filter being served (even if a reload swaps it
// meanwhile) and reports a mismatch on the returned channel.
func (v *verifiedChecker) verify(source string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		if err := v.Verify(); err != nil {
			// A file changed in place is not corrupt at rest: the server
			// stays up, unready and failing closed, until a reload.
			if !errors.Is(err, breach.ErrFileChanged) {
				errc <- fmt.Errorf("breach filter %s: %w", source, err)
			}
			return
		}
		if err := v.verifyExact(); err != nil {
			errc <- err
			return
		}
		v.verified.Store(true)
	}()
	return errc
}

// Reload swaps in a new filter; VerifyOnReload has checked its checksum in
// full, so it is verified.
func (v *verifiedChecker) Reload(path string) error {
	if err := v.Checker.Reload(path); err != nil {
		return err
	}
	v.verified.Store(true)
	return nil
}

// Ping is the filter's part of readiness.
func (v *verifiedChecker) Ping(context.Context) error {
	if v.Info().Bits == 0 {
		return errors.New("breach filter not loaded")
	}
	if err := v.Problem(); err != nil {
		return err
	}
	if !v.verified.Load() {
		return errors.New("breach filter: verifying checksum")
	}
	return nil
}

// loadAdminToken returns the admin token in path, creating it (32 random
// bytes as hex, mode 0600) when it does not exist. The CLI reads the same
// file to talk to the admin API.
func loadAdminToken(path string) (string, error) {
	b, err := secretfile.LoadOrCreate(path, newAdminToken)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 32 {
		return "", fmt.Errorf("%s holds fewer than 32 characters; delete it to have a new one generated", path)
	}
	return s, nil
}

func openBreach(c *serveConfig, now func() time.Time) (*verifiedChecker, error) {
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
	// VerifyOnReload: a new file's checksum is verified in full, on the
	// same open that is then served, before it replaces a good one.
	opts := breach.CheckerOptions{MinScore: c.minStrength, VerifyOnReload: true, CopyToMemory: c.breachInMemory, Now: now, MinCount: c.breachMinCount}
	if opts.Exact, err = openExact(c, f); err != nil {
		f.Close()
		return nil, err
	}
	return &verifiedChecker{Checker: breach.NewChecker(f, opts)}, nil
}

func newLimiter(c *serveConfig, s *service) (safereset.Limiter, error) {
	secret, err := sharedKey(s.db, "ratelimit-hmac", ratelimit.MinSecretLen, func() ([]byte, error) { return ratelimit.LoadOrCreateSecret(c.dataDir) })
	if err != nil {
		return nil, fmt.Errorf("rate limit secret: %w", err)
	}
	st, err := limiterStore(c, s)
	if err != nil {
		return nil, err
	}
	l, err := ratelimit.New(ratelimit.Config{
		RequestPerEmail: c.rateRequestEmail, ResetPerEmail: c.rateResetEmail, PerIP: c.rateIP, PerIPRange: c.rateRange, Secret: secret, Store: st,
	})
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	return l, nil
}

func newVerifier(c *serveConfig, now func() time.Time, db engine) (*jwtauth.Verifier, error) {
	cfg := jwtauth.Config{
		DataDir: c.dataDir, PublicKeyFile: c.jwtPublicKeys, JWKSFile: c.jwtJWKS,
		Issuer: c.jwtIssuer, Audience: c.jwtAudience, Leeway: c.jwtLeeway, MaxLifetime: c.jwtMaxLifetime, Now: now,
	}
	if c.jwtSecretFile != "" {
		b, err := os.ReadFile(c.jwtSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--jwt-secret-file: %w", err)
		}
		cfg.HS256Secret, cfg.HS256Previous = splitSecrets(b)
	} else if sharesKeys(db) && (c.jwtAlgorithms == "" || strings.Contains(strings.ToUpper(c.jwtAlgorithms), jwtauth.AlgHS256)) {
		// Every replica must verify what any replica issued.
		secret, err := sharedKey(db, "jwt-hs256", jwtauth.SecretSize, nil)
		if err != nil {
			return nil, fmt.Errorf("jwt: %w", err)
		}
		cfg.HS256Secret = secret
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

// pingAll reports whether every readiness check passes, as /readyz decides.
func pingAll(checks []server.Pinger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, p := range checks {
		if p.Ping(ctx) != nil {
			return false
		}
	}
	return true
}
