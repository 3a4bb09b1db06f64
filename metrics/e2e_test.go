package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/safereset/safereset"
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
	bin := requireTool(t, "prometheus")

	f := newFixture(t)
	for range 3 {
		f.m.Response("reset", 400, []safereset.Code{safereset.ER352}, 5*time.Millisecond)
	}
	f.m.RateLimited(safereset.RouteRequest, safereset.LimitIP)

	// The exposition exactly as the ops listener serves it.
	target := serveMetrics(t, f)
	api := startPrometheus(t, bin, target)

	q := `safereset_responses_total{job="safereset", route="reset", code="ER352"}`
	if got := waitForValue(t, api, q, func(v string) bool { return v != "" }); got != "3" {
		t.Fatalf("%s = %s in Prometheus, want 3", q, got)
	}
	// Counts keep flowing: one more response shows up on a later scrape.
	f.m.Response("reset", 400, []safereset.Code{safereset.ER352}, 5*time.Millisecond)
	waitForValue(t, api, q, func(v string) bool { return v == "4" })

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
		if got := queryValue(t, api, c.query); got != c.want {
			t.Errorf("%s = %q in Prometheus, want %q", c.query, got, c.want)
		}
	}

	t.Run("RulesEvaluate", func(t *testing.T) {
		rules := waitForRules(t, api)
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
			if _, err := query(api, expr); err != nil {
				t.Errorf("%s: %s: %v", where, expr, err)
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

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startPrometheus runs a Prometheus server scraping target every second,
// with alerts.yml loaded, and returns the base URL of its HTTP API. The
// server is stopped (SIGTERM, then SIGKILL) when the test ends.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(metricsDir(t), "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: safereset
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, filepath.Join(dir, "alerts.yml"), target)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second // then SIGKILL
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		_ = logFile.Close()
		if t.Failed() {
			if log, err := os.ReadFile(logPath); err == nil {
				t.Logf("prometheus log:\n%s", log)
			}
		}
	})

	api := "http://" + addr
	// Wait for Prometheus to answer, or to die (a taken port, a bad config).
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(logPath)
			t.Fatalf("prometheus exited early: %v\n%s", err, log)
		default:
		}
		resp, err := http.Get(api + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus at %s not ready after 30s: %v", api, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiResponse is the envelope of Prometheus's HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func apiGet(u string) (json.RawMessage, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("status %d, body %.200q: %w", resp.StatusCode, body, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// query runs an instant query and returns the values of its result, or
// the single scalar value.
func query(api, expr string) ([]string, error) {
	data, err := apiGet(api + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	switch d.ResultType {
	case "vector":
		var v []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(d.Result, &v); err != nil {
			return nil, err
		}
		out := make([]string, len(v))
		for i, s := range v {
			out[i], _ = s.Value[1].(string)
		}
		return out, nil
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(d.Result, &s); err != nil {
			return nil, err
		}
		v, _ := s[1].(string)
		return []string{v}, nil
	}
	return nil, fmt.Errorf("result type %q", d.ResultType)
}

// queryValue returns the one value of expr; "" when the result is empty.
func queryValue(t *testing.T, api, expr string) string {
	t.Helper()
	vals, err := query(api, expr)
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	switch len(vals) {
	case 0:
		return ""
	case 1:
		return vals[0]
	}
	t.Fatalf("query %s: %d series, want one", expr, len(vals))
	return ""
}

// waitForValue polls expr until ok accepts its value. Prometheus is an
// external process that scrapes on its own schedule, so the test waits
// for it with a bounded deadline.
func waitForValue(t *testing.T, api, expr string, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := queryValue(t, api, expr)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q after 60s of scraping", expr, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type ruleState struct {
	Name           string    `json:"name"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

// waitForRules returns the loaded rules once each has been evaluated at
// least once after the first scrape.
func waitForRules(t *testing.T, api string) []ruleState {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, err := apiGet(api + "/api/v1/rules")
		if err != nil {
			t.Fatalf("rules: %v", err)
		}
		var d struct {
			Groups []struct {
				Rules []ruleState `json:"rules"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("rules: %v", err)
		}
		var all []ruleState
		evaluated := true
		for _, g := range d.Groups {
			for _, r := range g.Rules {
				all = append(all, r)
				if r.LastEvaluation.IsZero() || r.LastEvaluation.Year() < 2000 {
					evaluated = false
				}
			}
		}
		if len(all) > 0 && evaluated {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("rules not all evaluated after 60s: %+v", all)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
