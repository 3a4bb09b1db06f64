package safereset

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"time"
)

// EventType names a webhook event (SPEC §12).
type EventType string

// The events safereset raises. Each is delivered to every --webhook-url.
const (
	// EventPasswordChanged: a user's password was reset; the application
	// should end the user's sessions.
	EventPasswordChanged EventType = "password.changed"
	// EventResetRequested: a reset token was issued for a known account.
	EventResetRequested EventType = "password.reset_requested"
	// EventAccountLocked: the account holder said "this wasn't me"; reset
	// tokens are refused for a while.
	EventAccountLocked EventType = "account.locked"
	// EventAccountUnlocked: an admin lifted a lock.
	EventAccountUnlocked EventType = "account.unlocked"
	// EventFilterReloaded: a new breach filter is being served.
	EventFilterReloaded EventType = "breach.filter_reloaded"
)

// EventTypes lists every event type, for metrics that start at zero.
func EventTypes() []EventType {
	return []EventType{EventPasswordChanged, EventResetRequested, EventAccountLocked, EventAccountUnlocked, EventFilterReloaded}
}

// Event is the JSON body of one webhook delivery.
type Event struct {
	Type      EventType `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is what an event is about. Fields that do not apply are
// omitted.
type EventData struct {
	UserID uint64 `json:"userId,omitempty"`
	// Email is the address stored on the account (never a request's).
	Email     string `json:"emailAddress,omitempty"`
	Client    string `json:"client,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	// Filter is set for breach.filter_reloaded.
	Filter *FilterInfo `json:"filter,omitempty"`
}

// WebhookDelivery is one event queued for one receiver in the outbox. ID
// is the webhook-id header: the same on every retry, so the receiver can
// deduplicate.
type WebhookDelivery struct {
	ID   string          `json:"id"`
	URL  string          `json:"url"`
	Type EventType       `json:"type"`
	Body json.RawMessage `json:"body"`
}

// ErrWebhookPermanent marks a webhook delivery failure that retrying will
// not fix (a 4xx answer other than 408 and 429, a redirect). Deliverers
// wrap it; the outbox worker drops such deliveries instead of retrying.
var ErrWebhookPermanent = errors.New("permanent webhook failure")

// WebhookSender delivers one queued event now. It returns an error
// wrapping ErrWebhookPermanent when retrying cannot help.
type WebhookSender interface {
	Deliver(ctx context.Context, d WebhookDelivery) error
}

// EventPublisher turns an event into outbox entries, one per configured
// receiver (none when there is none). The entries share one webhook-id.
type EventPublisher interface {
	Entries(ev Event) ([]OutboxEntry, error)
}

// AuditAction names one kind of change in the audit trail.
type AuditAction string

// The changes the audit trail records (SPEC §12).
const (
	AuditUserCreated       AuditAction = "user.created"
	AuditUserImported      AuditAction = "user.imported"
	AuditUserDeleted       AuditAction = "user.deleted"
	AuditPasswordChanged   AuditAction = "password.changed"
	AuditTokenRequested    AuditAction = "token.requested"
	AuditAccountLocked     AuditAction = "account.locked"
	AuditAccountUnlocked   AuditAction = "account.unlocked"
	AuditAPIKeyCreated     AuditAction = "apikey.created"
	AuditAPIKeyRevoked     AuditAction = "apikey.revoked"
	AuditJWTIssued         AuditAction = "jwt.issued"
	AuditFilterReloaded    AuditAction = "breach.filter_reloaded"
	AuditAdminTokenRefused AuditAction = "admin.token_refused"
)

// AuditEntry is one line of the audit trail. It never holds a password,
// token, key, or an address in full: users appear by ID, clients by
// their name, and the client address masked with MaskIP.
type AuditEntry struct {
	// ID is assigned by the store, increasing in append order.
	ID     uint64      `json:"id"`
	Time   time.Time   `json:"time"`
	Action AuditAction `json:"action"`
	// Actor is who made the change: "apikey:NAME", "jwt:LABEL", "admin",
	// or "system" for changes nobody asked for over the network (SIGHUP).
	Actor      string `json:"actor"`
	RequestID  string `json:"requestId,omitempty"`
	ClientAddr string `json:"clientAddr,omitempty"`
	// UserID is the account concerned; the store fills it in for changes
	// to a user.
	UserID uint64 `json:"userId,omitempty"`
	// Target names what else was changed: an API key's id and name, a JWT
	// subject label, a filter's source.
	Target string `json:"target,omitempty"`
}

// AuditQuery selects audit entries: those at or after Since with an ID
// above After (the last ID of the previous page), at most Limit.
type AuditQuery struct {
	Since time.Time
	After uint64
	Limit int
}

// Effects are records written in the same transaction as a change, so they
// exist exactly when the change does.
type Effects struct {
	Audit  []AuditEntry
	Outbox []OutboxEntry
}

// Add appends o's records to e.
func (e *Effects) Add(o Effects) {
	e.Audit = append(e.Audit, o.Audit...)
	e.Outbox = append(e.Outbox, o.Outbox...)
}

// EffectsFunc renders the effects of a change to user u (as stored after
// the change) inside the change's transaction. It must be quick and must
// not call the store.
type EffectsFunc func(u User) (Effects, error)

// MaskIP returns a client address with its host part removed: IPv4 to its
// /24 ("203.0.113.0/24"), IPv6 to its /48. Anything unparseable becomes "".
func MaskIP(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			ip = net.ParseIP(host)
		}
	}
	if ip == nil {
		return ""
	}
	if v4 := ip.To4(); v4 != nil {
		return (&net.IPNet{IP: v4.Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}).String()
	}
	return (&net.IPNet{IP: ip.Mask(net.CIDRMask(48, 128)), Mask: net.CIDRMask(48, 128)}).String()
}

// Actor is who made a change, as audit lines and events name it.
type Actor struct {
	// Name is "apikey:NAME", "jwt:LABEL", "admin" or "system".
	Name      string
	RequestID string
	// ClientAddr is already masked (MaskIP).
	ClientAddr string
}

// ActorSystem makes changes nobody asked for over the network (a reload on
// SIGHUP, the retention sweep).
const ActorSystem = "system"

// NewActor returns the actor of a request from addr, masking addr.
func NewActor(name, requestID, addr string) Actor {
	return Actor{Name: name, RequestID: requestID, ClientAddr: MaskIP(addr)}
}

// Audit returns the audit entry for action by a. The store sets its ID,
// its time when zero, and its user for changes to a user.
func (a Actor) Audit(action AuditAction, target string) AuditEntry {
	return AuditEntry{Action: action, Actor: a.Name, RequestID: a.RequestID, ClientAddr: a.ClientAddr, Target: target}
}

// UserEffects returns the effects of a's change to a user: its audit line
// and, when ev is not empty, the event ev about the user (as stored after
// the change) for every receiver of pub. pub may be nil.
func UserEffects(pub EventPublisher, a Actor, action AuditAction, ev EventType) EffectsFunc {
	return func(u User) (Effects, error) {
		e := Effects{Audit: []AuditEntry{a.Audit(action, "")}}
		if ev == "" || pub == nil {
			return e, nil
		}
		out, err := pub.Entries(Event{Type: ev, Data: EventData{UserID: u.ID, Email: u.Email, Client: a.Name, RequestID: a.RequestID}})
		if err != nil {
			return Effects{}, err
		}
		e.Outbox = out
		return e, nil
	}
}

// FilterReloadEffects returns the audit line and the breach.filter_reloaded
// event of a reload by a. pub may be nil.
func FilterReloadEffects(pub EventPublisher, a Actor, info FilterInfo) (Effects, error) {
	e := Effects{Audit: []AuditEntry{a.Audit(AuditFilterReloaded, info.Source)}}
	if pub == nil {
		return e, nil
	}
	out, err := pub.Entries(Event{Type: EventFilterReloaded, Data: EventData{Client: a.Name, RequestID: a.RequestID, Filter: &info}})
	if err != nil {
		return Effects{}, err
	}
	e.Outbox = out
	return e, nil
}
