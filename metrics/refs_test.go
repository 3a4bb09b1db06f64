package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v2"
)

// standardSeries are series Prometheus itself makes, which safereset's
// dashboard and rules may use although no collector exports them.
var standardSeries = []string{"up", "ALERTS"}

// metricNames returns the metric names a PromQL expression (or a Grafana
// query, with $variables) selects, sorted and without duplicates. It is a
// small lexer, not a parser: it drops strings, label matchers, ranges and
// grouping label lists, then keeps the identifiers that are neither
// keywords nor function calls.
func metricNames(expr string) ([]string, error) {
	if strings.Contains(expr, "__name__") {
		return nil, fmt.Errorf("%q selects by __name__, which this check cannot follow", expr)
	}
	var b strings.Builder
	// Drop string literals, keeping the quotes apart from what follows.
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c != '"' && c != '\'' && c != '`' {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for ; j < len(expr) && expr[j] != c; j++ {
			if expr[j] == '\\' && c != '`' {
				j++
			}
		}
		if j >= len(expr) {
			return nil, fmt.Errorf("%q has an unterminated string", expr)
		}
		b.WriteString(" ")
		i = j
	}
	s := b.String()
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`\{[^{}]*\}`),   // label matchers
		regexp.MustCompile(`\[[^\[\]]*\]`), // ranges and subqueries
		regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`),
	} {
		s = re.ReplaceAllString(s, " ")
	}
	if strings.ContainsAny(s, "{}[]") {
		return nil, fmt.Errorf("%q has unbalanced braces or brackets", expr)
	}
	keywords := map[string]bool{
		"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true,
		"ignoring": true, "group_left": true, "group_right": true, "offset": true, "bool": true,
		"inf": true, "nan": true, "atan2": true,
	}
	token := regexp.MustCompile(`[A-Za-z0-9_:.$]+`)
	seen := map[string]bool{}
	for _, loc := range token.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		switch {
		case tok[0] >= '0' && tok[0] <= '9', tok[0] == '.', tok[0] == '$':
			continue // number, duration or Grafana variable
		case keywords[strings.ToLower(tok)]:
			continue
		case strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "("):
			continue // function or aggregation
		}
		seen[tok] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job="safereset"} == 0`, []string{"up"}},
		{`sum by (job, instance) (increase(safereset_responses_total{code="ER352"}[5m])) > 20`, []string{"safereset_responses_total"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(safereset_http_request_duration_seconds_bucket{job="$job", instance=~"$instance"}[$__rate_interval])))`,
			[]string{"safereset_http_request_duration_seconds_bucket"}},
		{`(time() - safereset_breach_filter_built_timestamp_seconds) / 86400 > 45`, []string{"safereset_breach_filter_built_timestamp_seconds"}},
		{"a_total{x=~\"a{1}\\\"[b]\"} and on(instance) group_left(route) b offset 5m\nor\n c unless ignoring (code) d",
			[]string{"a_total", "b", "c", "d"}},
		{`sum(rate(x_sum[5m:1m])) / sum without(le) (rate(x_count[1h])) > bool 1e3`, []string{"x_count", "x_sum"}},
		{`label_replace(foo, "dst", "$1", "src", "(.*)")`, []string{"foo"}},
		{promQLOf(`label_values(safereset_responses_total{job="$job"}, instance)`), []string{"safereset_responses_total"}},
		{`vector(1)`, []string{}},
	}
	for _, tt := range tests {
		got, err := metricNames(tt.expr)
		if err != nil {
			t.Errorf("metricNames(%q): %v", tt.expr, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
	for _, bad := range []string{`{__name__="x"}`, `x{a="b`, `x{a="b"`, `rate(x[5m)`} {
		if got, err := metricNames(bad); err == nil {
			t.Errorf("metricNames(%q) = %q, want an error", bad, got)
		}
	}
}

// exportedSeries returns every series name a scrape of metrics.New's
// registry holds, with histograms as their _bucket/_sum/_count series, after
// every collector has been moved once (vectors appear on first use).
func exportedSeries(t *testing.T) map[string]bool {
	t.Helper()
	f := newFixture(t)
	drive(f.m)
	out := map[string]bool{}
	for name, mf := range f.gather(t) {
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	for _, s := range standardSeries {
		out[s] = true
	}
	return out
}

// labelValues matches Grafana's label_values(expr, label) variable query.
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)

// promQLOf returns the PromQL inside a Grafana variable query, or q itself
// when it is plain PromQL.
func promQLOf(q string) string {
	if m := labelValues.FindStringSubmatch(q); m != nil {
		return m[1]
	}
	return q
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	SchemaVersion int     `json:"schemaVersion"`
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasource     `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string      `json:"name"`
			Expr       string      `json:"expr"`
			Datasource *datasource `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasource              `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // panels of a collapsed row
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(metricsDir(t), "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	return d
}

// allPanels flattens rows.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// queries returns every PromQL text in the dashboard, keyed by where it is.
func (d dashboard) queries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID)] = tg.Expr
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out[fmt.Sprintf("annotation %q", a.Name)] = a.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query is neither object nor string: %s", v.Name, v.Query)
			}
		}
		out[fmt.Sprintf("variable %s", v.Name)] = q.Query
	}
	return out
}

const dsVar = "${DS_PROMETHEUS}"

func TestDashboard_Importable(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want a current one (>= 36)", d.SchemaVersion)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q, uid %q: both must be set", d.Title, d.UID)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v, want one prometheus datasource input DS_PROMETHEUS", d.Inputs)
	}
	hasVar := false
	for _, v := range d.Templating.List {
		if v.Name == "DS_PROMETHEUS" && v.Type == "datasource" {
			hasVar = true
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != dsVar) {
			t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource, dsVar)
		}
	}
	if !hasVar {
		t.Error("no datasource variable DS_PROMETHEUS (provisioned dashboards need it)")
	}
	ids := map[int]string{}
	queries := 0
	for _, p := range d.allPanels() {
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d is zero or also used by %q", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar {
			t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			queries++
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q empty or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s: empty expr", p.Title, tg.RefID)
			}
			if tg.Datasource == nil || tg.Datasource.UID != dsVar {
				t.Errorf("panel %q target %s: datasource %+v, want uid %s", p.Title, tg.RefID, tg.Datasource, dsVar)
			}
		}
	}
	if queries == 0 {
		t.Fatal("dashboard has no queries")
	}
}

func TestDashboard_HasRequiredPanels(t *testing.T) {
	// What the security team asked for, by the series each panel must use.
	want := map[string]*regexp.Regexp{
		"responses by code":       regexp.MustCompile(`by \(route, code\) \(rate\(safereset_responses_total`),
		"ER349 rate":              regexp.MustCompile(`safereset_responses_total\{[^}]*code="ER349"`),
		"ER352/ER353":             regexp.MustCompile(`safereset_responses_total\{[^}]*code=~"ER352\|ER353"`),
		"429s by key kind":        regexp.MustCompile(`by \(kind[^)]*\) \(rate\(safereset_ratelimit_rejections_total`),
		"latency quantiles":       regexp.MustCompile(`histogram_quantile\(0\.99, sum by \(le, route\) \(rate\(safereset_http_request_duration_seconds_bucket`),
		"hash duration":           regexp.MustCompile(`safereset_password_hash_duration_seconds_bucket`),
		"hash in flight":          regexp.MustCompile(`safereset_password_hash_in_flight`),
		"outbox depth":            regexp.MustCompile(`safereset_mail_outbox_depth`),
		"outbox oldest age":       regexp.MustCompile(`safereset_mail_outbox_oldest_age_seconds`),
		"mail send failures":      regexp.MustCompile(`safereset_mail_sends_total\{[^}]*result=~"dropped\|failed"`),
		"filter age":              regexp.MustCompile(`time\(\) - max\(safereset_breach_filter_built_timestamp_seconds`),
		"filter elements":         regexp.MustCompile(`safereset_breach_filter_elements`),
		"ER354/ER355 mail errors": regexp.MustCompile(`code=~"ER354\|ER355"`),
	}
	d := loadDashboard(t)
	qs := d.queries(t)
	for what, re := range want {
		found := false
		for _, q := range qs {
			if re.MatchString(q) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no dashboard query for %s (matching %s)", what, re)
		}
	}
}

func TestDashboard_MetricsExist(t *testing.T) {
	exported := exportedSeries(t)
	d := loadDashboard(t)
	for where, q := range d.queries(t) {
		names, err := metricNames(promQLOf(q))
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: %q uses no metric", where, q)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("%s uses %s, which metrics.New does not export", where, n)
			}
		}
	}
}

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(metricsDir(t), "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(raw, &rf); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return rf
}

// wantAlerts are the alerts the security team asked for.
var wantAlerts = []string{
	"SaferesetDown", "TokenBruteForce", "BreachedPasswordSurge", "MailFailures",
	"OutboxGrowing", "AnyER999", "RateLimitSurge", "BreachFilterStale",
}

func TestAlerts_MetricsExist(t *testing.T) {
	exported := exportedSeries(t)
	rf := loadRules(t)
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				exported[r.Record] = true
			}
		}
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names, err := metricNames(r.Expr)
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			if len(names) == 0 {
				t.Errorf("%s: %q uses no metric", r.Alert, r.Expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("alert %s uses %s, which metrics.New does not export", r.Alert, n)
				}
			}
		}
	}
}

func TestAlerts_Shape(t *testing.T) {
	rf := loadRules(t)
	got := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			got[r.Alert] = true
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
		}
	}
	for _, a := range wantAlerts {
		if !got[a] {
			t.Errorf("alerts.yml has no alert %s", a)
		}
	}
}

// TestAlerts_EveryAlertUnitTested checks alerts_test.yml gives every alert
// a case where it fires and one where it stays quiet; promtool itself only
// runs the cases that exist.
func TestAlerts_EveryAlertUnitTested(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(metricsDir(t), "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(raw, &tf); err != nil {
		t.Fatalf("alerts_test.yml: %v", err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !fires[r.Alert] {
				t.Errorf("alerts_test.yml never expects %s to fire", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alerts_test.yml never expects %s to stay quiet", r.Alert)
			}
		}
	}
}
