package prometheustest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/freeport"
)

// Timeout bounds every wait for the Prometheus process: for it to become
// ready, for a scrape to show a value and for rules to be evaluated.
const Timeout = 60 * time.Second

// RequireBinary returns the path of an external program, such as
// "prometheus" or "promtool". When it is missing the test is skipped with a
// loud message, or fails when the environment has CI=true.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := "!!! " + name + " not found on PATH (" + err.Error() + "); install it with `sh scripts/install-prometheus.sh` (Debian package prometheus) !!!"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Options configure a Server.
type Options struct {
	// Job is the scrape job name; the alert rules expect "safereset",
	// the default.
	Job string
	// MetricsPath is the path scraped on the target; default "/metrics".
	MetricsPath string
	// RuleFiles are rule files to load, copied into the server's temporary
	// directory.
	RuleFiles []string
}

// Server is a Prometheus server running for one test.
type Server struct {
	// URL is the base URL of its HTTP API, e.g. "http://127.0.0.1:41234".
	URL string
}

// Start runs a Prometheus server that scrapes target (host:port) every
// second and evaluates rules every second, and waits until it is ready.
// It is stopped (SIGTERM, then SIGKILL after 10s) when the test ends, and
// its log is printed if the test failed.
func Start(t testing.TB, target string, opts Options) *Server {
	t.Helper()
	bin := RequireBinary(t, "prometheus")
	if opts.Job == "" {
		opts.Job = "safereset"
	}
	if opts.MetricsPath == "" {
		opts.MetricsPath = "/metrics"
	}
	dir := t.TempDir()
	var rules []string
	for i, src := range opts.RuleFiles {
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("prometheustest: read rules: %v", err)
		}
		dst := filepath.Join(dir, fmt.Sprintf("rules-%d.yml", i))
		if err := os.WriteFile(dst, raw, 0o600); err != nil {
			t.Fatalf("prometheustest: %v", err)
		}
		rules = append(rules, dst)
	}
	ruleJSON, _ := json.Marshal(rules)
	// JSON is YAML, so quoting is safe whatever the paths hold.
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: %s
scrape_configs:
  - job_name: %q
    metrics_path: %q
    static_configs:
      - targets: [%q]
`, ruleJSON, opts.Job, opts.MetricsPath, target)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatalf("prometheustest: %v", err)
	}
	// The port is picked free just before Prometheus binds it; if another
	// process takes it in between, try again on a new one.
	for attempt := 1; ; attempt++ {
		s, portTaken := launch(t, bin, configPath, dir, attempt)
		if !portTaken {
			return s
		}
		if attempt == 3 {
			t.Fatalf("prometheustest: no free port after %d attempts", attempt)
		}
	}
}

// launch starts Prometheus once and waits until it is ready. It reports
// portTaken, instead of failing the test, when Prometheus exited because
// its listen address was in use.
func launch(t testing.TB, bin, configPath, dir string, attempt int) (s *Server, portTaken bool) {
	t.Helper()
	logPath := filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt))
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("prometheustest: %v", err)
	}
	addr := freeAddr(t)

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		_ = logFile.Close()
		t.Fatalf("prometheustest: start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		err := <-exited
		exited <- err
		_ = logFile.Close()
		if t.Failed() {
			if log, err := os.ReadFile(logPath); err == nil {
				t.Logf("prometheus log:\n%s", log)
			}
		}
	})

	s = &Server{URL: "http://" + addr}
	deadline := time.Now().Add(Timeout)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			log, _ := os.ReadFile(logPath)
			if strings.Contains(string(log), "address already in use") {
				return nil, true
			}
			t.Fatalf("prometheustest: prometheus exited early: %v\n%s", err, log)
		default:
		}
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, false
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheustest: prometheus at %s not ready after %v: %v", s.URL, Timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatalf("prometheustest: %v", err)
	}
	return addr
}

// Sample is one series of an instant query's result.
type Sample struct {
	Labels map[string]string
	// Value is the value as Prometheus formats it, e.g. "3" or "0.25".
	Value string
}

type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func (s *Server) get(path string) (json.RawMessage, error) {
	resp, err := http.Get(s.URL + path)
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

// Query runs an instant query. A scalar result is one Sample without
// labels. A PromQL error (bad syntax, bad matching) is returned as error.
func (s *Server) Query(expr string) ([]Sample, error) {
	data, err := s.get("/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	switch d.ResultType {
	case "vector":
		var v []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(d.Result, &v); err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		out := make([]Sample, len(v))
		for i, x := range v {
			val, _ := x.Value[1].(string)
			out[i] = Sample{Labels: x.Metric, Value: val}
		}
		return out, nil
	case "scalar":
		var x [2]any
		if err := json.Unmarshal(d.Result, &x); err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		val, _ := x[1].(string)
		return []Sample{{Value: val}}, nil
	}
	return nil, fmt.Errorf("query %s: unexpected result type %q", expr, d.ResultType)
}

// Value returns the value of an expression that selects at most one
// series: "" when it selects none. More than one fails the test.
func (s *Server) Value(t testing.TB, expr string) string {
	t.Helper()
	samples, err := s.Query(expr)
	if err != nil {
		t.Fatalf("prometheustest: %v", err)
	}
	switch len(samples) {
	case 0:
		return ""
	case 1:
		return samples[0].Value
	}
	t.Fatalf("prometheustest: %s selects %d series, want at most one", expr, len(samples))
	return ""
}

// WaitForValue polls Value(expr) until ok accepts it and returns that
// value; the test fails after Timeout. Prometheus scrapes on its own
// schedule, so this is how a test waits for a scrape to land.
func (s *Server) WaitForValue(t testing.TB, expr string, ok func(value string) bool) string {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		v := s.Value(t, expr)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheustest: %s = %q after %v of scraping", expr, v, Timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Rule is the state of one loaded alerting or recording rule.
type Rule struct {
	Name           string    `json:"name"`
	Type           string    `json:"type"` // "alerting" or "recording"
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

// WaitForRules returns every loaded rule once each has been evaluated at
// least once; the test fails after Timeout, or if no rule is loaded.
func (s *Server) WaitForRules(t testing.TB) []Rule {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		data, err := s.get("/api/v1/rules")
		if err != nil {
			t.Fatalf("prometheustest: rules: %v", err)
		}
		var d struct {
			Groups []struct {
				Rules []Rule `json:"rules"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("prometheustest: rules: %v", err)
		}
		var all []Rule
		evaluated := true
		for _, g := range d.Groups {
			for _, r := range g.Rules {
				all = append(all, r)
				// An unevaluated rule reports Go's zero time.
				if r.LastEvaluation.Year() < 2000 {
					evaluated = false
				}
			}
		}
		if len(all) > 0 && evaluated {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheustest: rules not all evaluated after %v: %+v", Timeout, all)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
