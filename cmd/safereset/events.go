package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/webhook"
)

// eventConfig is the webhook and audit settings of `safereset serve`.
type eventConfig struct {
	webhookURLs       urlList
	webhookSecretFile string
	webhookTimeout    time.Duration
	auditRetention    time.Duration
}

// urlList is a repeatable flag. One value may hold several URLs separated
// by spaces, which is how SAFERESET_WEBHOOK_URL lists more than one.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, " ") }

func (l *urlList) Set(v string) error {
	for _, u := range strings.Fields(v) {
		if _, err := webhook.ParseURL(u); err != nil {
			return err
		}
		*l = append(*l, u)
	}
	return nil
}

func addEventFlags(fs *flag.FlagSet, c *eventConfig) {
	fs.Var(&c.webhookURLs, "webhook-url", "receiver of the signed event webhooks; repeat for several (env: space-separated)")
	fs.StringVar(&c.webhookSecretFile, "webhook-secret-file", "", "file holding the whsec_ signing secret (default: <data-dir>/webhook.secret, generated)")
	fs.DurationVar(&c.webhookTimeout, "webhook-timeout", webhook.DefaultTimeout, "timeout of one webhook delivery attempt")
	fs.DurationVar(&c.auditRetention, "audit-retention", 90*24*time.Hour, "how long audit entries are kept")
}

func (c *eventConfig) validate() error {
	switch {
	case c.webhookTimeout <= 0 || c.webhookTimeout > 5*time.Minute:
		return errors.New("--webhook-timeout must be between 0 and 5m")
	case c.auditRetention < time.Hour:
		return errors.New("--audit-retention must be at least 1h")
	}
	return nil
}

// newEvents builds the publisher and deliverer of the configured webhooks.
// With no --webhook-url both are nil: nothing is queued, and entries left
// from an earlier configuration are dropped by the worker.
//
// The secret comes from --webhook-secret-file; else, in PostgreSQL mode,
// from the database (created once, shared by every replica; receivers get
// it as 'whsec_' || encode(value, 'base64') from shared_keys where name =
// 'webhook-secret'); else from <data-dir>/webhook.secret, generated.
func newEvents(c *eventConfig, dataDir string, db engine, now func() time.Time) (*webhook.Publisher, *webhook.Deliverer, error) {
	if len(c.webhookURLs) == 0 {
		return nil, nil, nil
	}
	var (
		signer *webhook.Signer
		err    error
	)
	if c.webhookSecretFile == "" && sharesKeys(db) {
		var key []byte
		if key, err = sharedKey(db, "webhook-secret", 32, nil); err == nil {
			signer, err = webhook.NewSigner(key)
		}
	} else {
		signer, err = webhook.LoadSigner(c.webhookSecretFile, dataDir)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("webhook secret: %w", err)
	}
	pub, err := webhook.NewPublisher(c.webhookURLs, 0, now)
	if err != nil {
		return nil, nil, err
	}
	d, err := webhook.NewDeliverer(webhook.DelivererConfig{Signer: signer, Timeout: c.webhookTimeout, Now: now, Allowed: c.webhookURLs})
	if err != nil {
		return nil, nil, err
	}
	return pub, d, nil
}

// eventPublisher returns pub as the interface, nil when there is none (a
// nil *Publisher in an interface would not compare equal to nil).
func eventPublisher(pub *webhook.Publisher) safereset.EventPublisher {
	if pub == nil {
		return nil
	}
	return pub
}

// webhookSender is eventPublisher's twin for the deliverer.
func webhookSender(d *webhook.Deliverer) safereset.WebhookSender {
	if d == nil {
		return nil
	}
	return d
}

// auditSweepEvery is how often the retention sweep runs.
const auditSweepEvery = time.Hour

// sweepAudit deletes audit entries older than retention now and then every
// auditSweepEvery until ctx ends.
func sweepAudit(ctx context.Context, st safereset.Store, retention time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(auditSweepEvery)
	defer t.Stop()
	for {
		n, err := st.PruneAudit(ctx, now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("audit retention sweep failed", "error", err.Error())
		case n > 0:
			log.Info("audit retention sweep", "deleted", n, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recordReload writes the audit line and event of a filter reload that
// no request asked for (SIGHUP).
func recordReload(ctx context.Context, st safereset.Store, pub safereset.EventPublisher, info safereset.FilterInfo, log *slog.Logger) bool {
	e, err := safereset.FilterReloadEffects(pub, safereset.Actor{Name: safereset.ActorSystem}, info)
	if err == nil {
		err = st.Record(ctx, e)
	}
	if err != nil {
		log.Error("audit: recording the filter reload failed", "error", err.Error())
		return false
	}
	return len(e.Outbox) > 0
}
