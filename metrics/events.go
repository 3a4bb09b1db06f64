package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/safereset/safereset"
)

// eventMetrics are the webhook and audit collectors.
type eventMetrics struct {
	webhooks *prometheus.CounterVec
	audit    prometheus.Counter
}

// initEvents creates and registers the event collectors, every series at
// 0 from the start so a failing-delivery alert works from the first one.
func (m *Metrics) initEvents(reg prometheus.Registerer) {
	m.events.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safereset_webhook_deliveries_total",
		Help: "Webhook delivery attempts by event type and result (sent, retry, dropped).",
	}, []string{"event", "result"})
	m.events.audit = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "safereset_audit_failures_total",
		Help: "Audit lines or events of a change made outside the store (a JWT issued, a filter reloaded, an admin token refused) that could not be written.",
	})
	reg.MustRegister(m.events.webhooks, m.events.audit)
	for _, t := range safereset.EventTypes() {
		for _, r := range []string{MailSent, MailRetry, MailDropped} {
			m.events.webhooks.WithLabelValues(string(t), r)
		}
	}
}

// WebhookDelivery counts one delivery attempt of an event: MailSent,
// MailRetry or MailDropped.
func (m *Metrics) WebhookDelivery(t safereset.EventType, result string) {
	if m == nil {
		return
	}
	types := safereset.EventTypes()
	m.events.webhooks.WithLabelValues(oneOf(t, types...), oneOf(result, MailSent, MailRetry, MailDropped)).Inc()
}

// AuditFailure counts a change made outside the store whose audit line or
// event could not be written. (A change inside the store is refused
// together with its records.)
func (m *Metrics) AuditFailure() {
	if m == nil {
		return
	}
	m.events.audit.Inc()
}
