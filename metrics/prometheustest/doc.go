// Package prometheustest runs a real Prometheus server for a test, scraping
// a safereset ops listener, and reads its HTTP API.
//
// # Caveats
//
// It needs the prometheus binary on PATH (Debian's prometheus package;
// scripts/install-prometheus.sh installs it). Without it a test is skipped
// loudly, and fails when CI=true. Each server scrapes and evaluates rules
// every second, starts in about a second and takes a few seconds of CPU, so
// keep it out of -short runs. Waits poll the external process with bounded
// deadlines; they are not a way to synchronise goroutines.
package prometheustest
