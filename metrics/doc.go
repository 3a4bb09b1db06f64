// Package metrics holds safereset's Prometheus collectors, registered on a
// registry passed in, and ships the Grafana dashboard and alert rules that
// use them.
//
// # Caveats
//
// Label values come only from fixed sets (routes, codes, kinds); nothing a
// request carries ever becomes a label.
package metrics
