package metrics_test

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/metrics/prometheustest"
)

// TestPrometheus_ScrapesSafereset starts a real Prometheus server that
// scrapes safereset's collectors over HTTP, loads alerts.yml, and checks
// through Prometheus's HTTP API that the counters arrive with the values
// driven here, that every rule evaluates without error on real data, and
// that every dashboard query is valid PromQL.
func TestPrometheus_ScrapesSafereset(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prometheus server; skipped with -short")
	}
	prometheustest.RequireBinary(t, "prometheus")

	f := newFixture(t)
	for range 3 {
		f.m.Response("reset", 400, []safereset.Code{safereset.ER352}, 5*time.Millisecond)
	}
	f.m.RateLimited(safereset.RouteRequest, safereset.LimitIP)

	// The exposition exactly as the ops listener serves it.
	target := serveMetrics(t, f)
	prom := prometheustest.Start(t, target, prometheustest.Options{
		RuleFiles: []string{filepath.Join(metricsDir(t), "alerts.yml")},
	})

	q := `safereset_responses_total{job="safereset", route="reset", code="ER352"}`
	if got := prom.WaitForValue(t, q, func(v string) bool { return v != "" }); got != "3" {
		t.Fatalf("%s = %s in Prometheus, want 3", q, got)
	}
	// Counts keep flowing: one more response shows up on a later scrape.
	f.m.Response("reset", 400, []safereset.Code{safereset.ER352}, 5*time.Millisecond)
	prom.WaitForValue(t, q, func(v string) bool { return v == "4" })

	checks := []struct {
		query string
		want  string
	}{
		{`up{job="safereset"}`, "1"},
		// Codes nobody has answered yet are there at 0.
		{`safereset_responses_total{route="request", code="ER999"}`, "0"},
		{`safereset_responses_total{route="reset", code="ER349"}`, "0"},
		{`count(safereset_responses_total)`, fmt.Sprint(2 * (len(safereset.Catalog()) + 1))},
		{`safereset_ratelimit_rejections_total{route="request", kind="ip"}`, "1"},
		{`safereset_mail_outbox_depth`, "3"},
		{`safereset_breach_filter_elements`, "1000"},
	}
	for _, c := range checks {
		if got := prom.Value(t, c.query); got != c.want {
			t.Errorf("%s = %q in Prometheus, want %q", c.query, got, c.want)
		}
	}

	t.Run("RulesEvaluate", func(t *testing.T) {
		rules := prom.WaitForRules(t)
		if len(rules) < len(wantAlerts) {
			t.Errorf("Prometheus loaded %d rules, want %d", len(rules), len(wantAlerts))
		}
		for _, r := range rules {
			if r.Health != "ok" || r.LastError != "" {
				t.Errorf("rule %s: health %q, error %q", r.Name, r.Health, r.LastError)
			}
		}
	})

	t.Run("DashboardQueriesRun", func(t *testing.T) {
		grafana := strings.NewReplacer(
			"$__rate_interval", "1m", "$__range", "1h", "$__interval", "15s",
			"$job", "safereset", "$instance", ".+",
		)
		for where, q := range loadDashboard(t).queries(t) {
			expr := grafana.Replace(promQLOf(q))
			if _, err := prom.Query(expr); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
	})
}

// serveMetrics serves f's registry on /metrics of a loopback listener and
// returns its host:port.
func serveMetrics(t *testing.T, f *fixture) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}
