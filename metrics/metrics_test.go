package metrics_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/metrics"
)

const (
	responses   = "safereset_responses_total"
	duration    = "safereset_http_request_duration_seconds"
	rejections  = "safereset_ratelimit_rejections_total"
	checks      = "safereset_breach_checks_total"
	mailSends   = "safereset_mail_sends_total"
	hashSeconds = "safereset_password_hash_duration_seconds"
	hashFlight  = "safereset_password_hash_in_flight"
)

func TestNew_EveryCatalogCodeAtZero(t *testing.T) {
	f := newFixture(t)
	codes := []safereset.Code{safereset.CodeOK}
	for _, e := range safereset.Catalog() {
		codes = append(codes, e.Code)
	}
	if len(codes) < 22 {
		t.Fatalf("catalog has %d codes, want at least 21 plus OK", len(codes))
	}
	for _, route := range []string{"request", "reset"} {
		for _, code := range codes {
			labels := map[string]string{"route": route, "code": string(code)}
			if got := f.value(t, responses, labels); got != 0 {
				t.Errorf("%s%v = %v at start, want 0", responses, labels, got)
			}
		}
		for _, kind := range []string{"ip", "email"} {
			labels := map[string]string{"route": route, "kind": kind}
			if got := f.value(t, rejections, labels); got != 0 {
				t.Errorf("%s%v = %v at start, want 0", rejections, labels, got)
			}
		}
	}
	for _, r := range []string{metrics.BreachOK, metrics.BreachBreached, metrics.BreachWeak, metrics.BreachError} {
		if got := f.value(t, checks, map[string]string{"result": r}); got != 0 {
			t.Errorf("%s{result=%s} = %v at start, want 0", checks, r, got)
		}
	}
	for _, k := range []string{"token", "confirmation"} {
		for _, r := range []string{metrics.MailSent, metrics.MailRetry, metrics.MailDropped, metrics.MailFailed} {
			if got := f.value(t, mailSends, map[string]string{"kind": k, "result": r}); got != 0 {
				t.Errorf("%s{kind=%s,result=%s} = %v at start, want 0", mailSends, k, r, got)
			}
		}
	}
	// Exactly these series and no others: 2 routes x (codes + OK).
	got, err := testutil.GatherAndCount(f.reg, responses)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(codes); got != want {
		t.Errorf("%s has %d series at start, want %d", responses, got, want)
	}
}

func TestMetrics_Response(t *testing.T) {
	tests := []struct {
		name       string
		route      string
		status     int
		codes      []safereset.Code
		wantCounts map[string]float64 // code -> increase on route
		wantStatus string
	}{
		{"Success", "request", 202, nil, map[string]float64{"OK": 1}, "202"},
		{"ResetNoContent", "reset", 204, nil, map[string]float64{"OK": 1}, "204"},
		{"EveryCodeOnce", "reset", 400, []safereset.Code{safereset.ER349, safereset.ER350, safereset.ER352},
			map[string]float64{"ER349": 1, "ER350": 1, "ER352": 1, "OK": 0}, "400"},
		{"AuthPair", "request", 401, []safereset.Code{safereset.ER802, safereset.ER806},
			map[string]float64{"ER802": 1, "ER806": 1, "ER805": 0}, "401"},
		{"InternalError", "reset", 500, []safereset.Code{safereset.ER999}, map[string]float64{"ER999": 1}, "500"},
		{"RateLimited", "request", 429, []safereset.Code{safereset.ER429}, map[string]float64{"ER429": 1}, "429"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.m.Response(safereset.Route(tt.route), tt.status, tt.codes, 3*time.Millisecond)
			for code, want := range tt.wantCounts {
				labels := map[string]string{"route": tt.route, "code": code}
				if got := f.value(t, responses, labels); got != want {
					t.Errorf("%s%v = %v, want %v", responses, labels, got, want)
				}
			}
			hl := map[string]string{"route": tt.route, "status": tt.wantStatus}
			if got := f.histogramCount(t, duration, hl); got != 1 {
				t.Errorf("%s%v count = %d, want 1", duration, hl, got)
			}
		})
	}
}

func TestMetrics_Response_LatencyBuckets(t *testing.T) {
	// The fast rejection path and the argon2id path must land in different
	// buckets, so quantiles can tell them apart.
	f := newFixture(t)
	f.m.Response("reset", 401, []safereset.Code{safereset.ER805}, 200*time.Microsecond)
	f.m.Response("reset", 204, nil, 300*time.Millisecond)
	m, ok := f.series(t, duration, map[string]string{"route": "reset", "status": "401"})
	if !ok {
		t.Fatal("no 401 histogram")
	}
	if b := m.GetHistogram().GetBucket()[0]; b.GetUpperBound() > 0.001 || b.GetCumulativeCount() != 1 {
		t.Errorf("first bucket le=%v count=%d, want a sub-millisecond bucket holding the rejection", b.GetUpperBound(), b.GetCumulativeCount())
	}
	m, _ = f.series(t, duration, map[string]string{"route": "reset", "status": "204"})
	var below, above bool
	for _, b := range m.GetHistogram().GetBucket() {
		if b.GetUpperBound() < 0.3 && b.GetCumulativeCount() == 0 {
			below = true
		}
		if b.GetUpperBound() >= 0.3 && b.GetUpperBound() <= 1 && b.GetCumulativeCount() == 1 {
			above = true
		}
	}
	if !below || !above {
		t.Errorf("a 300ms reset is not bracketed by buckets between 0.1s and 1s: %v", m.GetHistogram().GetBucket())
	}
}

func TestMetrics_Counters(t *testing.T) {
	tests := []struct {
		name   string
		do     func(m *metrics.Metrics)
		metric string
		labels map[string]string
		want   float64
	}{
		{"RateLimitedIP", func(m *metrics.Metrics) {
			m.RateLimited(safereset.RouteReset, safereset.LimitIP)
			m.RateLimited(safereset.RouteReset, safereset.LimitIP)
		}, rejections, map[string]string{"route": "reset", "kind": "ip"}, 2},
		{"RateLimitedEmail", func(m *metrics.Metrics) {
			m.RateLimited(safereset.RouteRequest, safereset.LimitEmail)
		}, rejections, map[string]string{"route": "request", "kind": "email"}, 1},
		{"RateLimitedOtherKindUntouched", func(m *metrics.Metrics) {
			m.RateLimited(safereset.RouteRequest, safereset.LimitEmail)
		}, rejections, map[string]string{"route": "request", "kind": "ip"}, 0},
		{"BreachBreached", func(m *metrics.Metrics) { m.BreachCheck(metrics.BreachBreached) },
			checks, map[string]string{"result": "breached"}, 1},
		{"BreachWeak", func(m *metrics.Metrics) { m.BreachCheck("weak"); m.BreachCheck("weak") },
			checks, map[string]string{"result": "weak"}, 2},
		{"BreachOK", func(m *metrics.Metrics) { m.BreachCheck(metrics.BreachOK) },
			checks, map[string]string{"result": "ok"}, 1},
		{"BreachError", func(m *metrics.Metrics) { m.BreachCheck(metrics.BreachError) },
			checks, map[string]string{"result": "error"}, 1},
		{"MailTokenSent", func(m *metrics.Metrics) { m.MailSend(safereset.MailToken, metrics.MailSent) },
			mailSends, map[string]string{"kind": "token", "result": "sent"}, 1},
		{"MailTokenDropped", func(m *metrics.Metrics) { m.MailSend(safereset.MailToken, metrics.MailDropped) },
			mailSends, map[string]string{"kind": "token", "result": "dropped"}, 1},
		{"MailConfirmationFailed", func(m *metrics.Metrics) { m.MailSend(safereset.MailConfirmation, "failed") },
			mailSends, map[string]string{"kind": "confirmation", "result": "failed"}, 1},
		{"MailRetry", func(m *metrics.Metrics) {
			m.MailSend(safereset.MailToken, metrics.MailRetry)
			m.MailSend(safereset.MailToken, metrics.MailRetry)
			m.MailSend(safereset.MailToken, metrics.MailRetry)
		}, mailSends, map[string]string{"kind": "token", "result": "retry"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.do(f.m)
			if got := f.value(t, tt.metric, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
}

func TestMetrics_HashStarted(t *testing.T) {
	f := newFixture(t)
	const n = 8
	started := make(chan func(), n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { started <- f.m.HashStarted() })
	}
	wg.Wait()
	close(started)
	if got := f.value(t, hashFlight, map[string]string{}); got != n {
		t.Fatalf("in flight = %v after %d starts, want %d", got, n, n)
	}
	f.clock.Advance(2 * time.Second)
	var dones []func()
	for done := range started {
		dones = append(dones, done)
	}
	for _, done := range dones {
		wg.Go(done)
	}
	wg.Wait()
	// A second call of done must not count twice.
	dones[0]()
	if got := f.value(t, hashFlight, map[string]string{}); got != 0 {
		t.Errorf("in flight = %v after all done, want 0", got)
	}
	m, ok := f.series(t, hashSeconds, map[string]string{})
	if !ok {
		t.Fatal("no hash duration histogram")
	}
	if got := m.GetHistogram().GetSampleCount(); got != n {
		t.Errorf("hash duration count = %d, want %d", got, n)
	}
	if got := m.GetHistogram().GetSampleSum(); got != 2*n {
		t.Errorf("hash duration sum = %v, want %v (each hash took 2s on the injected clock)", got, 2*n)
	}
}

func TestMetrics_SourceGauges(t *testing.T) {
	f := newFixture(t)
	filter := []struct {
		name string
		want float64
	}{
		{"safereset_breach_filter_elements", 1000},
		{"safereset_breach_filter_size_bytes", 14378.0 / 8},
		{"safereset_breach_filter_hashes", 10},
		{"safereset_breach_filter_format_version", 2},
		{"safereset_breach_filter_target_fpr", 0.001},
		{"safereset_breach_filter_loaded_timestamp_seconds", float64(epoch.Add(-time.Hour).Unix())},
		{"safereset_breach_filter_built_timestamp_seconds", float64(epoch.Add(-240 * time.Hour).Unix())},
	}
	for _, g := range filter {
		if got := f.value(t, g.name, map[string]string{}); got != g.want {
			t.Errorf("%s = %v, want %v", g.name, got, g.want)
		}
	}

	outbox := []struct {
		name      string
		set       func()
		wantDepth float64
		wantAge   float64
	}{
		{"ThreeQueued", func() {}, 3, 90},
		{"ClockMoves", func() { f.clock.Advance(30 * time.Second) }, 3, 120},
		{"Empty", func() { f.outbox.Set(0, time.Time{}, nil) }, 0, 0},
		{"StoreError", func() { f.outbox.Set(5, epoch, errors.New("store: outbox stats: closed")) }, -1, 0},
	}
	for _, tt := range outbox {
		t.Run(tt.name, func(t *testing.T) {
			tt.set()
			if got := f.value(t, "safereset_mail_outbox_depth", map[string]string{}); got != tt.wantDepth {
				t.Errorf("outbox depth = %v, want %v", got, tt.wantDepth)
			}
			if got := f.value(t, "safereset_mail_outbox_oldest_age_seconds", map[string]string{}); got != tt.wantAge {
				t.Errorf("outbox oldest age = %v, want %v", got, tt.wantAge)
			}
		})
	}
}

func TestNew_WithoutSources(t *testing.T) {
	// A registry without sources still has the counters, and no gauge
	// reads a nil func at scrape time.
	f := &fixture{reg: metrics.New(metrics.Sources{}).Registry()}
	fams := f.gather(t)
	if _, ok := fams[responses]; !ok {
		t.Errorf("no %s without sources", responses)
	}
	if _, ok := fams["safereset_mail_outbox_depth"]; ok {
		t.Errorf("outbox depth registered without an outbox source")
	}
}

func TestNew_GoAndProcessCollectors(t *testing.T) {
	fams := newFixture(t).gather(t)
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}

func TestMetrics_NilSafe(t *testing.T) {
	var m *metrics.Metrics
	m.Response("reset", 204, nil, time.Millisecond)
	m.RateLimited(safereset.RouteReset, safereset.LimitIP)
	m.BreachCheck(metrics.BreachOK)
	m.MailSend(safereset.MailToken, metrics.MailSent)
	m.HashStarted()()
}

// allowed lists the only label values each safereset label may take.
func allowed() map[string]map[string]bool {
	set := func(vs ...string) map[string]bool {
		out := map[string]bool{}
		for _, v := range vs {
			out[v] = true
		}
		return out
	}
	codes := set("OK", metrics.Other)
	for _, e := range safereset.Catalog() {
		codes[string(e.Code)] = true
	}
	statuses := set(metrics.Other)
	for s := 100; s < 600; s++ {
		statuses[string(rune('0'+s/100))+string(rune('0'+s/10%10))+string(rune('0'+s%10))] = true
	}
	return map[string]map[string]bool{
		"route":  set(append(routeNames(), metrics.Other)...),
		"code":   codes,
		"status": statuses,
		"kind":   set("ip", "email", "token", "confirmation", metrics.Other),
		"result": set("ok", "breached", "weak", "error", "sent", "retry", "dropped", "failed", metrics.Other,
			metrics.RangeNotModified, metrics.RangeBadRequest, metrics.RangeLimited),
		"padded": set("true", "false"),
		"event":  set("password.changed", "password.reset_requested", "account.locked", "account.unlocked", "breach.filter_reloaded", metrics.Other),
	}
}

func routeNames() []string {
	var names []string
	for _, r := range metrics.Routes {
		names = append(names, string(r))
	}
	return names
}

func TestMetrics_LabelValuesFixed(t *testing.T) {
	f := newFixture(t)
	// What a careless caller might pass straight from a request.
	hostile := []string{
		"/api/v1/user/reset-password?emailAddress=alice@example.com",
		"alice@example.com",
		"0123456789abcdef0123456789abcdef",
		"hunter2hunter2",
		"",
		strings.Repeat("x", 10000),
	}
	for _, h := range hostile {
		f.m.Response(safereset.Route(h), 400, []safereset.Code{safereset.Code(h), safereset.ER352}, time.Millisecond)
		f.m.Response("reset", 9999, nil, time.Millisecond)
		f.m.Response("reset", -1, nil, time.Millisecond)
		f.m.RateLimited(safereset.Route(h), safereset.LimitKind(h))
		f.m.BreachCheck(h)
		f.m.MailSend(safereset.MailKind(h), h)
		f.m.RangeRequest(h, true, 0.001)
		f.m.WebhookDelivery(safereset.EventType(h), h)
	}
	for _, r := range metrics.Routes {
		f.m.Response(r, 200, nil, time.Millisecond)
	}
	ok := allowed()
	for name, mf := range f.gather(t) {
		if !strings.HasPrefix(name, "safereset_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				vals, known := ok[lp.GetName()]
				if !known {
					t.Errorf("%s has unexpected label %q", name, lp.GetName())
					continue
				}
				if !vals[lp.GetValue()] {
					t.Errorf("%s%s: label %s=%.40q is outside the fixed set", name, labelsOf(m), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	// The hostile calls were counted, under Other.
	if got := f.value(t, responses, map[string]string{"route": metrics.Other, "code": metrics.Other}); got != float64(len(hostile)) {
		t.Errorf("responses{route=other,code=other} = %v, want %d", got, len(hostile))
	}
	if got := f.value(t, rejections, map[string]string{"route": metrics.Other, "kind": metrics.Other}); got != float64(len(hostile)) {
		t.Errorf("rejections{route=other,kind=other} = %v, want %d", got, len(hostile))
	}
	if got := f.histogramCount(t, duration, map[string]string{"route": "reset", "status": metrics.Other}); got != uint64(2*len(hostile)) {
		t.Errorf("duration{route=reset,status=other} count = %d, want %d", got, 2*len(hostile))
	}
}

// scrape serves the registry the way the ops listener does and returns
// one scrape of /metrics in the text format.
func scrape(t *testing.T, f *fixture) string {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ask for the classic text format promtool reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: read: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", resp.StatusCode, body)
	}
	return string(body)
}

// drive moves every collector once, so the exposition holds histograms
// with samples and every label combination the server uses.
func drive(m *metrics.Metrics) {
	m.Response("request", 202, nil, 2*time.Millisecond)
	m.Response("reset", 400, []safereset.Code{safereset.ER349, safereset.ER350}, 40*time.Millisecond)
	m.Response("doc", 200, nil, time.Millisecond)
	m.RateLimited(safereset.RouteRequest, safereset.LimitEmail)
	m.BreachCheck(metrics.BreachBreached)
	m.MailSend(safereset.MailToken, metrics.MailSent)
	m.HashStarted()()
}

func TestExposition_PromtoolCheckMetrics(t *testing.T) {
	promtool := requireTool(t, "promtool")
	f := newFixture(t)
	drive(f.m)
	body := scrape(t, f)
	for _, want := range []string{
		`safereset_responses_total{code="ER999",route="reset"} 0`,
		`safereset_responses_total{code="ER349",route="reset"} 1`,
		`safereset_mail_outbox_depth 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	// promtool prints nothing and exits 0 when the exposition is clean;
	// any lint (naming, units, help) makes it exit non-zero.
	if out := runTool(t, body, promtool, "check", "metrics"); strings.TrimSpace(out) != "" {
		t.Errorf("promtool check metrics:\n%s", out)
	}
}

func TestExposition_Lint(t *testing.T) {
	// client_golang's own linter, which runs without promtool.
	f := newFixture(t)
	drive(f.m)
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

// BenchmarkMetrics_Response measures the cost the access log adds to each
// request: a typical 400 with two codes.
func BenchmarkMetrics_Response(b *testing.B) {
	m := metrics.New(metrics.Sources{})
	codes := []safereset.Code{safereset.ER349, safereset.ER350}
	b.ReportAllocs()
	for b.Loop() {
		m.Response("reset", 400, codes, 3*time.Millisecond)
	}
}

// BenchmarkScrape measures one /metrics exposition of every collector.
func BenchmarkScrape(b *testing.B) {
	m := metrics.New(metrics.Sources{
		Filter: func() safereset.FilterInfo { return smallFilter },
		Outbox: func() (int, time.Time, error) { return 3, epoch, nil },
		Now:    func() time.Time { return epoch },
	})
	drive(m)
	reg := m.Registry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClientRequest_Capped: each client gets its own series up to
// MaxClientLabels, later clients share "other".
func TestClientRequest_Capped(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	reg := m.Registry()
	for i := 0; i < metrics.MaxClientLabels+50; i++ {
		m.ClientRequest("reset", fmt.Sprintf("jwt:user-%d", i))
	}
	m.ClientRequest("reset", "jwt:user-0")
	m.ClientRequest("request", "apikey:shop")
	m.ClientRequest("/evil/path", "jwt:user-1")
	if got := testutil.ToFloat64(m.ClientCounterForTest("reset", "jwt:user-0")); got != 2 {
		t.Errorf("jwt:user-0 = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.ClientCounterForTest("reset", metrics.Other)); got != 50 {
		t.Errorf("other = %v, want 50 (clients beyond the cap)", got)
	}
	if got := testutil.ToFloat64(m.ClientCounterForTest("request", metrics.Other)); got != 1 {
		t.Errorf("apikey:shop beyond the cap should count as other, got %v", got)
	}
	if n := testutil.CollectAndCount(reg, "safereset_client_requests_total"); n != metrics.MaxClientLabels+3 { // + reset/other, request/other, other/jwt:user-1
		t.Errorf("%d series, want %d", n, metrics.MaxClientLabels+3)
	}
}
