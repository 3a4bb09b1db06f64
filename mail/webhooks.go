package mail

import (
	"context"
	"errors"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/metrics"
)

// deliverWebhook handles one due event entry with the same rules as a
// mail: deleted after success, dropped after a permanent failure or past
// NotAfter, else rescheduled with backoff. The entry keeps its webhook-id,
// so every retry carries the same one. It returns an error only when the
// outbox could not be updated.
func (w *Worker) deliverWebhook(ctx context.Context, e safereset.OutboxEntry) error {
	h := e.Webhook
	log := w.log.With("id", e.ID, "kind", "webhook", "event", string(h.Type), "webhook_id", h.ID, "attempt", e.Attempts+1)
	storeCtx := context.WithoutCancel(ctx)
	drop := func(msg string, args ...any) error {
		if err := w.remove(storeCtx, e); err != nil {
			return err
		}
		w.cfg.Metrics.WebhookDelivery(h.Type, metrics.MailDropped)
		log.Warn(msg, append([]any{"result", "dropped"}, args...)...)
		return nil
	}
	if w.cfg.Webhooks == nil {
		return drop("webhook dropped: no receiver is configured")
	}
	if expired(e, w.cfg.Now()) {
		return drop("webhook dropped undelivered: it is past its retry window", "queued_for", w.cfg.Now().Sub(e.CreatedAt).Round(time.Second).String())
	}

	w.step()
	sendCtx, cancel := context.WithTimeout(storeCtx, w.cfg.SendTimeout)
	err := w.cfg.Webhooks.Deliver(sendCtx, *h)
	cancel()
	w.step()

	switch {
	case err == nil:
		w.cfg.Metrics.WebhookDelivery(h.Type, metrics.MailSent)
		if err := w.remove(storeCtx, e); err != nil {
			log.Error("webhook delivered but not removed from the outbox: it will be sent again with the same id", "result", "sent")
			return err
		}
		log.Info("webhook delivered", "result", "sent")
		return nil
	case errors.Is(err, safereset.ErrWebhookPermanent):
		return drop("webhook dropped: the receiver refused it", "reason", Reason(err))
	}

	attempts := e.Attempts + 1
	next := w.cfg.Now().Add(w.backoff(attempts))
	if !e.NotAfter.IsZero() && !next.Before(e.NotAfter) {
		return drop("webhook dropped: delivery failed and its retry window ends before the next try", "reason", Reason(err))
	}
	if err := w.cfg.Store.RescheduleMail(storeCtx, e.ID, e.Claim, next, attempts, Reason(err)); err != nil && !gone(err) {
		return err
	}
	w.cfg.Metrics.WebhookDelivery(h.Type, metrics.MailRetry)
	log.Warn("webhook delivery failed, will retry", "result", "retry", "reason", Reason(err), "next_attempt", next.UTC().Format(time.RFC3339))
	return nil
}
