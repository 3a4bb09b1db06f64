package metrics

import "github.com/prometheus/client_golang/prometheus"

// ClientCounterForTest returns one series of safereset_client_requests_total.
func (m *Metrics) ClientCounterForTest(route, client string) prometheus.Counter {
	return m.byClient.WithLabelValues(route, client)
}
