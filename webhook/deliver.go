package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/safereset/safereset"
)

// DefaultTimeout bounds one delivery attempt: connecting, sending and
// reading the answer's status.
const DefaultTimeout = 10 * time.Second

// maxDrain is how much of an answer's body is read (and discarded) so the
// connection can be reused; a receiver's body is never stored or logged.
const maxDrain = 4 << 10

// Deliverer POSTs signed events. It implements safereset.WebhookSender.
type Deliverer struct {
	signer *Signer
	client *http.Client
	now    func() time.Time
	agent  string
	// allowed is nil when any URL may be delivered to.
	allowed map[string]bool
}

var _ safereset.WebhookSender = (*Deliverer)(nil)

// DelivererConfig configures NewDeliverer.
type DelivererConfig struct {
	Signer *Signer
	// Timeout bounds one attempt; DefaultTimeout when zero.
	Timeout time.Duration
	// Now is the clock of webhook-timestamp; time.Now when nil.
	Now func() time.Time
	// UserAgent is sent on each request; "safereset-webhook" when empty.
	UserAgent string
	// Allowed lists the receivers deliveries may go to (the operator's
	// --webhook-url values). A queued delivery for any other URL, left from
	// an earlier configuration, fails permanently. Empty allows any.
	Allowed []string
}

// NewDeliverer returns a deliverer that never follows redirects.
func NewDeliverer(cfg DelivererConfig) (*Deliverer, error) {
	if cfg.Signer == nil {
		return nil, errors.New("webhook: deliverer needs a signer")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "safereset-webhook"
	}
	var allowed map[string]bool
	for _, raw := range cfg.Allowed {
		u, err := ParseURL(raw)
		if err != nil {
			return nil, err
		}
		if allowed == nil {
			allowed = map[string]bool{}
		}
		allowed[u] = true
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &Deliverer{
		allowed: allowed,
		signer:  cfg.Signer,
		now:     cfg.Now,
		agent:   cfg.UserAgent,
		client: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A redirect would send the event to a URL the operator did
			// not configure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// DeliveryError describes a failed attempt without the receiver's URL or
// answer body. It wraps safereset.ErrWebhookPermanent when Permanent.
type DeliveryError struct {
	// Reason is short and safe to log: "http 503", "timeout",
	// "redirect 302 not followed", "connection failed".
	Reason    string
	Permanent bool
	Err       error
}

func (e *DeliveryError) Error() string { return "webhook delivery: " + e.Reason }

// LogReason returns Reason, for log lines and the stored last error.
func (e *DeliveryError) LogReason() string { return e.Reason }

func (e *DeliveryError) Unwrap() []error {
	errs := []error{e.Err}
	if e.Permanent {
		errs = append(errs, safereset.ErrWebhookPermanent)
	}
	return errs
}

// Deliver POSTs d.Body to d.URL with the Standard Webhooks headers signed
// for this attempt. 2xx is success; 408, 429, 5xx, timeouts and network
// errors are temporary; any other answer (other 4xx, a redirect, 1xx) is
// permanent.
func (d *Deliverer) Deliver(ctx context.Context, w safereset.WebhookDelivery) error {
	if d.allowed != nil && !d.allowed[w.URL] {
		return &DeliveryError{Reason: "receiver no longer configured", Permanent: true, Err: errNotConfigured}
	}
	ts := d.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(w.Body))
	if err != nil {
		return &DeliveryError{Reason: "invalid url", Permanent: true, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.agent)
	req.Header.Set(HeaderID, w.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, d.signer.Sign(w.ID, ts, w.Body))
	resp, err := d.client.Do(req)
	if err != nil {
		reason := "connection failed"
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			reason = "timeout"
		} else if errors.Is(err, context.Canceled) {
			reason = "canceled"
		}
		return &DeliveryError{Reason: reason, Err: err}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		return &DeliveryError{Reason: "http " + strconv.Itoa(s), Err: errStatus}
	case s >= 300 && s < 400:
		return &DeliveryError{Reason: fmt.Sprintf("redirect %d not followed", s), Permanent: true, Err: errStatus}
	default:
		return &DeliveryError{Reason: "http " + strconv.Itoa(s), Permanent: true, Err: errStatus}
	}
}

var (
	errStatus        = errors.New("receiver answered with a failure status")
	errNotConfigured = errors.New("receiver is not a configured --webhook-url")
)

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
