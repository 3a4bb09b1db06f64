package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/safereset/safereset"
)

// DefaultMaxAge is how long an undelivered event is retried before it is
// dropped: long enough to outlast a receiver's weekend outage, short
// enough that a revoked session is not revoked days late without notice.
const DefaultMaxAge = 72 * time.Hour

// Publisher turns events into outbox entries for a fixed list of
// receivers.
type Publisher struct {
	urls   []string
	maxAge time.Duration
	now    func() time.Time
}

var _ safereset.EventPublisher = (*Publisher)(nil)

// ParseURL checks one --webhook-url: absolute http or https with a host,
// no fragment.
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return "", fmt.Errorf("webhook url %q: want an absolute http:// or https:// URL", Redact(raw))
	}
	return u.String(), nil
}

// NewPublisher returns a publisher for urls (each checked with ParseURL).
// maxAge bounds retries (DefaultMaxAge when zero); now is the clock
// (time.Now when nil).
func NewPublisher(urls []string, maxAge time.Duration, now func() time.Time) (*Publisher, error) {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if now == nil {
		now = time.Now
	}
	p := &Publisher{maxAge: maxAge, now: now}
	seen := map[string]bool{}
	for _, raw := range urls {
		u, err := ParseURL(raw)
		if err != nil {
			return nil, err
		}
		if !seen[u] {
			seen[u] = true
			p.urls = append(p.urls, u)
		}
	}
	return p, nil
}

// Receivers returns how many URLs get each event.
func (p *Publisher) Receivers() int {
	if p == nil {
		return 0
	}
	return len(p.urls)
}

// Entries returns one outbox entry per receiver for ev, all with one new
// webhook-id. A zero ev.Timestamp becomes the clock's now.
func (p *Publisher) Entries(ev safereset.Event) ([]safereset.OutboxEntry, error) {
	if p == nil || len(p.urls) == 0 {
		return nil, nil
	}
	if ev.Type == "" {
		return nil, errors.New("webhook: event without a type")
	}
	now := p.now()
	if ev.Timestamp.IsZero() {
		ev.Timestamp = now
	}
	ev.Timestamp = ev.Timestamp.UTC()
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("webhook: encode event: %w", err)
	}
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	out := make([]safereset.OutboxEntry, 0, len(p.urls))
	for _, u := range p.urls {
		out = append(out, safereset.OutboxEntry{
			CreatedAt:   now,
			NextAttempt: now,
			NotAfter:    now.Add(p.maxAge),
			Webhook:     &safereset.WebhookDelivery{ID: id, URL: u, Type: ev.Type, Body: body},
		})
	}
	return out, nil
}

// NewID returns a fresh webhook-id: "msg_" and 32 hex digits.
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook: id: %w", err)
	}
	return "msg_" + hex.EncodeToString(b[:]), nil
}

// Redact returns a URL fit for logs: scheme, host and path, without
// user info or query (either may hold a receiver's credential).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid url)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
