package mail

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/metrics"
)

// Worker defaults.
const (
	DefaultBaseBackoff = 2 * time.Second
	DefaultMaxBackoff  = 10 * time.Minute
	DefaultSendTimeout = 30 * time.Second
	// DefaultLease is how long a claimed batch stays with this worker
	// before another replica may take it over.
	DefaultLease = 5 * time.Minute
)

const (
	// batchSize is how many due entries one store read returns.
	batchSize = 16
	// maxSleep caps one sleep so a wall-clock jump cannot strand the queue.
	maxSleep = time.Minute
	// wedgeSlack is how long past SendTimeout one step may take before
	// Alive reports the worker wedged.
	wedgeSlack = time.Minute
)

// WorkerConfig configures NewWorker.
type WorkerConfig struct {
	Store  safereset.Store
	Sender safereset.Sender
	// Webhooks delivers the outbox's event entries; nil drops them (no
	// receiver is configured any more).
	Webhooks safereset.WebhookSender
	// Metrics counts sends by kind and result (sent, retry, dropped); nil
	// disables counting.
	Metrics *metrics.Metrics
	// Logger gets one line per outcome, addresses masked with MaskEmail;
	// nil discards.
	Logger *slog.Logger
	// Now is the clock used for due times, backoff and expiry; time.Now if
	// nil. Sleeps use real timers: after moving a fake clock, call Notify.
	Now func() time.Time
	// BaseBackoff and MaxBackoff shape retries: the n-th failed attempt
	// waits a random time in [d/2, d] with d = BaseBackoff*2^(n-1), capped
	// at MaxBackoff. Defaults DefaultBaseBackoff, DefaultMaxBackoff.
	BaseBackoff, MaxBackoff time.Duration
	// SendTimeout bounds one delivery attempt; default DefaultSendTimeout.
	SendTimeout time.Duration
	// Lease is how long entries claimed from the store stay this worker's;
	// after it another worker (replica) may claim and send them. Default
	// DefaultLease; raised to at least twice SendTimeout.
	Lease time.Duration
}

// Worker delivers the durable outbox: it sends each due entry, deletes it
// after success, reschedules it with backoff after a temporary failure,
// and drops it after a permanent failure or once its token has expired.
//
// Delivery is at-least-once: an entry is deleted only after its send
// succeeded, so a crash between the two sends it again after restart, or
// from another replica once the crashed worker's lease has run out. A send
// starts only while at least SendTimeout of the lease is left, so a live
// worker never sends what another may already own.
// Run lets the send in flight finish before it returns, so a clean
// shutdown never does.
type Worker struct {
	cfg  WorkerConfig
	log  *slog.Logger
	wake chan struct{}

	running atomic.Bool
	// busySince is the Now (UnixNano) at which the current step (a store
	// call or one send) started, 0 while sleeping.
	busySince atomic.Int64
}

// NewWorker returns a worker; call Run to start it.
func NewWorker(cfg WorkerConfig) *Worker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.BaseBackoff {
		cfg.MaxBackoff = cfg.BaseBackoff
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = DefaultSendTimeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	cfg.Lease = max(cfg.Lease, 2*cfg.SendTimeout)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, log: log.With("component", "mail-worker"), wake: make(chan struct{}, 1)}
}

// Notify wakes the worker to look for due mail now. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// Alive reports whether Run is running and no step has been stuck for
// longer than SendTimeout plus a minute (for /readyz).
func (w *Worker) Alive() bool {
	if !w.running.Load() {
		return false
	}
	since := w.busySince.Load()
	return since == 0 || w.cfg.Now().Sub(time.Unix(0, since)) <= w.cfg.SendTimeout+wedgeSlack
}

// Run delivers due mail until ctx is done, sleeping until the next entry
// is due or Notify is called. When ctx ends during a send, that send is
// allowed to finish (bounded by SendTimeout) and its entry is deleted or
// rescheduled before Run returns nil; no new send starts. Close the store
// only after Run has returned. Run returns an error only if the worker is
// misconfigured or already running.
func (w *Worker) Run(ctx context.Context) error {
	if w.cfg.Store == nil || w.cfg.Sender == nil {
		return errors.New("mail: worker needs a Store and a Sender")
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("mail: worker already running")
	}
	defer w.running.Store(false)
	defer w.busySince.Store(0)

	if depth, _, err := w.cfg.Store.OutboxStats(ctx); err == nil {
		w.log.Info("mail worker started", "queued", depth)
	}
	for {
		wait := w.pass(ctx)
		w.busySince.Store(0)
		if ctx.Err() != nil {
			w.log.Info("mail worker stopped")
			return nil
		}
		if wait < 0 {
			wait = maxSleep // empty outbox: Notify wakes us, the timer is a safety net
		}
		timer := time.NewTimer(min(wait, maxSleep))
		select {
		case <-ctx.Done():
			timer.Stop()
			w.log.Info("mail worker stopped")
			return nil
		case <-w.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// pass sends every entry due now and returns how long to sleep: until the
// next entry is due, BaseBackoff after a store error, or -1 (until
// Notify) when the outbox is empty.
func (w *Worker) pass(ctx context.Context) time.Duration {
	for ctx.Err() == nil {
		w.step()
		claimedAt := w.cfg.Now()
		due, err := w.cfg.Store.ClaimMail(ctx, claimedAt, batchSize, w.cfg.Lease)
		if err != nil && ctx.Err() != nil {
			return 0 // shutting down, not a store failure
		}
		if err != nil {
			w.log.Error("mail worker: reading the outbox failed", "err", err)
			return w.cfg.BaseBackoff
		}
		lastStart := claimedAt.Add(w.cfg.Lease - w.cfg.SendTimeout)
		for i, e := range due {
			if ctx.Err() != nil || w.cfg.Now().After(lastStart) {
				// Hand the rest back now rather than let them wait out
				// the lease.
				w.release(due[i:])
				if ctx.Err() != nil {
					return 0
				}
				break
			}
			if err := w.deliver(ctx, e); err != nil {
				w.log.Error("mail worker: updating the outbox failed", "id", e.ID, "err", err)
				return w.cfg.BaseBackoff
			}
		}
		if len(due) < batchSize {
			break
		}
	}
	if ctx.Err() != nil {
		return 0
	}
	w.step()
	next, err := w.cfg.Store.NextMailAt(ctx)
	if err != nil && ctx.Err() != nil {
		return 0
	}
	if err != nil {
		w.log.Error("mail worker: reading the outbox failed", "err", err)
		return w.cfg.BaseBackoff
	}
	if next.IsZero() {
		return -1
	}
	return max(next.Sub(w.cfg.Now()), 0)
}

// step records that a new step started now, for Alive.
func (w *Worker) step() { w.busySince.Store(w.cfg.Now().UnixNano()) }

// deliver handles one due entry. It returns an error only when the outbox
// could not be updated.
func (w *Worker) deliver(ctx context.Context, e safereset.OutboxEntry) error {
	if e.Webhook != nil {
		return w.deliverWebhook(ctx, e)
	}
	kind := e.Message.Kind
	// Outbox writes finish even when ctx ends: the send they record has
	// happened.
	storeCtx := context.WithoutCancel(ctx)
	if e.Unreadable {
		// Nothing can be sent, and retrying cannot help: the key that
		// sealed the message is not this one.
		if err := w.remove(storeCtx, e); err != nil {
			return err
		}
		w.cfg.Metrics.MailSend(kind, "dropped")
		w.log.Error("mail dropped unsent: its message cannot be opened with this outbox key (database restored without its outbox.key?)",
			"id", e.ID, "kind", string(kind), "result", "dropped", "queued_for", w.cfg.Now().Sub(e.CreatedAt).Round(time.Second).String())
		return nil
	}
	log := w.log.With("id", e.ID, "kind", string(kind), "to", MaskEmail(e.Message.To), "attempt", e.Attempts+1)

	if expired(e, w.cfg.Now()) {
		if err := w.remove(storeCtx, e); err != nil {
			return err
		}
		w.cfg.Metrics.MailSend(kind, "dropped")
		log.Warn("mail dropped unsent: its token has expired", "result", "dropped", "queued_for", w.cfg.Now().Sub(e.CreatedAt).Round(time.Second).String())
		return nil
	}

	w.step()
	sendCtx, cancel := context.WithTimeout(storeCtx, w.cfg.SendTimeout)
	err := w.cfg.Sender.Send(sendCtx, e.Message)
	cancel()
	w.step()

	switch {
	case err == nil:
		if err := w.remove(storeCtx, e); err != nil {
			log.Error("mail sent but not removed from the outbox: it will be sent again", "result", "sent")
			w.cfg.Metrics.MailSend(kind, "sent")
			return err
		}
		w.cfg.Metrics.MailSend(kind, "sent")
		log.Info("mail sent", "result", "sent")
		return nil

	case errors.Is(err, safereset.ErrMailPermanent):
		if err := w.remove(storeCtx, e); err != nil {
			return err
		}
		w.cfg.Metrics.MailSend(kind, "dropped")
		log.Warn("mail dropped: permanent delivery failure", "result", "dropped", "reason", Reason(err))
		return nil
	}

	attempts := e.Attempts + 1
	next := w.cfg.Now().Add(w.backoff(attempts))
	if !e.NotAfter.IsZero() && !next.Before(e.NotAfter) {
		if err := w.remove(storeCtx, e); err != nil {
			return err
		}
		w.cfg.Metrics.MailSend(kind, "dropped")
		log.Warn("mail dropped: delivery failed and its token expires before the next try", "result", "dropped", "reason", Reason(err))
		return nil
	}
	if err := w.cfg.Store.RescheduleMail(storeCtx, e.ID, e.Claim, next, attempts, Reason(err)); err != nil && !gone(err) {
		return err
	}
	w.cfg.Metrics.MailSend(kind, "retry")
	log.Warn("mail delivery failed, will retry", "result", "retry", "reason", Reason(err), "next_attempt", next.UTC().Format(time.RFC3339))
	return nil
}

// remove deletes a claimed entry; one already gone, or taken over by
// another worker after this one's lease ran out, is fine.
func (w *Worker) remove(ctx context.Context, e safereset.OutboxEntry) error {
	if err := w.cfg.Store.DeleteMail(ctx, e.ID, e.Claim); err != nil && !gone(err) {
		return err
	}
	return nil
}

// release hands claimed entries back unsent, due now, so the next claim
// (here or on another replica) gets them without waiting out the lease.
func (w *Worker) release(es []safereset.OutboxEntry) {
	ctx := context.Background()
	for _, e := range es {
		err := w.cfg.Store.RescheduleMail(ctx, e.ID, e.Claim, w.cfg.Now(), e.Attempts, e.LastError)
		if err != nil && !gone(err) {
			// The lease still hands it to a worker later.
			w.log.Warn("mail worker: releasing a claimed entry failed", "id", e.ID, "err", err)
			return
		}
	}
}

// gone reports whether an outbox update failed because the entry is no
// longer this worker's to update.
func gone(err error) bool {
	return errors.Is(err, safereset.ErrMailNotFound) || errors.Is(err, safereset.ErrMailClaimLost)
}

func expired(e safereset.OutboxEntry, now time.Time) bool {
	return !e.NotAfter.IsZero() && !now.Before(e.NotAfter)
}

// backoff returns the wait after the n-th failed attempt (n >= 1): a
// random duration in [d/2, d], d = BaseBackoff*2^(n-1) capped at MaxBackoff.
func (w *Worker) backoff(n int) time.Duration {
	d := w.cfg.BaseBackoff
	for i := 1; i < n && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.cfg.MaxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// Reason returns a short description of a send error that is safe to log
// and to store: the SendError reason for this package's senders, and only
// a classification for anything else, whose text might hold an address.
func Reason(err error) string {
	var (
		se *SendError
		lr interface{ LogReason() string }
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return se.Reason
	case errors.As(err, &lr):
		return lr.LogReason()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, safereset.ErrMailPermanent):
		return "permanent failure"
	default:
		return "send failed"
	}
}
