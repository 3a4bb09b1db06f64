// Package metrics holds safereset's Prometheus collectors, registered on a
// registry passed in, and ships the Grafana dashboard and alert rules that
// use them.
//
// # Caveats
//
// Label values come only from fixed sets (routes, codes, kinds, results);
// nothing a request carries ever becomes a label. A value outside its set
// is counted as Other rather than refused, so a caller's mistake shows up
// on the dashboard instead of panicking a request.
//
// Gauges whose truth lives elsewhere (breach filter, outbox) are read from
// Sources at scrape time; safereset_mail_outbox_depth is -1 while the
// outbox cannot be read. The filter's m bits are exported as
// safereset_breach_filter_size_bytes (m/8), because Prometheus names carry
// base units.
//
// dashboard.json, alerts.yml and alerts_test.yml name these metrics; the
// package tests fail when one of them refers to a metric New does not
// export. MONITORING.md tells operators how to use them.
package metrics
