package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/server"
)

// lockConfig is "this wasn't me" (SPEC §11): the lock link both mails
// carry while the reset page is served.
type lockConfig struct {
	url      string
	duration time.Duration
	linkTTL  time.Duration
}

// maxLock bounds --lock-duration and --lock-link-ttl: a lock or a link
// older than a month is an operator's mistake.
const maxLock = 30 * 24 * time.Hour

func addLockFlags(fs *flag.FlagSet, c *lockConfig) {
	fs.StringVar(&c.url, "lock-url", "", "\"this wasn't me\" link in both mails; {token} and {email} are replaced, URL-escaped (default: --reset-url's scheme and host with /reset/not-me)")
	fs.DurationVar(&c.duration, "lock-duration", server.DefaultLockDuration, "how long the \"this wasn't me\" link refuses new reset tokens for the account (1m to 720h)")
	fs.DurationVar(&c.linkTTL, "lock-link-ttl", server.DefaultLockTTL, "how long a mail's \"this wasn't me\" link works (--token-ttl to 720h)")
}

// validate checks the lock settings; resetPage is --reset-page, without
// which no mail carries the link.
func (c *lockConfig) validate(tokenTTL time.Duration, resetPage bool) error {
	switch {
	case c.duration < time.Minute || c.duration > maxLock:
		return errors.New("--lock-duration must be between 1m and 720h")
	case c.linkTTL < tokenTTL || c.linkTTL > maxLock:
		return errors.New("--lock-link-ttl must be between --token-ttl and 720h")
	case c.url != "" && !resetPage:
		return errors.New("--lock-url needs the reset page: with --reset-page=false nothing serves /reset/not-me and the mails carry no lock link")
	}
	if c.url != "" {
		if err := mail.CheckLockURL(c.url); err != nil {
			return fmt.Errorf("--lock-url: %w", err)
		}
	}
	return nil
}

// composerLock fills cfg's lock settings.
func (c *lockConfig) composerLock(cfg mail.ComposerConfig) mail.ComposerConfig {
	cfg.LockURL, cfg.LockDuration = c.url, c.duration
	return cfg
}

// pageLock fills the reset page's lock settings.
func (c *lockConfig) pageLock(p *server.ResetPage) {
	if p != nil {
		p.LockDuration, p.LockTTL = c.duration, c.linkTTL
	}
}
