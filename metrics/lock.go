package metrics

import "github.com/prometheus/client_golang/prometheus"

// initLocks creates and registers the "this wasn't me" counter, at 0
// from the start so a rate alert works from the first lock.
func (m *Metrics) initLocks(reg prometheus.Registerer) {
	m.locks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "safereset_account_locks_total",
		Help: "Accounts locked by their holder with the \"this wasn't me\" link (reset tokens refused for --lock-duration).",
	})
	reg.MustRegister(m.locks)
}

// AccountLock counts one account locked through its lock link.
func (m *Metrics) AccountLock() {
	if m == nil {
		return
	}
	m.locks.Inc()
}
