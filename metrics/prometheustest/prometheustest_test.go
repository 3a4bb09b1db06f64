package prometheustest_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/safereset/safereset/metrics/prometheustest"
)

func TestServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prometheus server; skipped with -short")
	}
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "probe_value", Help: "A value the test sets."})
	reg.MustRegister(g)
	g.Set(7)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(target.Close)

	prom := prometheustest.Start(t, strings.TrimPrefix(target.URL, "http://"), prometheustest.Options{Job: "probe"})
	if got := prom.WaitForValue(t, `probe_value{job="probe"}`, func(v string) bool { return v != "" }); got != "7" {
		t.Errorf("probe_value = %q, want 7", got)
	}
	g.Set(8)
	prom.WaitForValue(t, `probe_value`, func(v string) bool { return v == "8" })

	tests := []struct {
		name    string
		expr    string
		want    []string
		wantErr bool
	}{
		{"Scalar", `scalar(probe_value) * 2`, []string{"16"}, false},
		{"Empty", `probe_value{job="nope"}`, nil, false},
		{"SyntaxError", `sum(probe_value`, nil, true},
		{"Up", `up{job="probe"}`, []string{"1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			samples, err := prom.Query(tt.expr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Query(%s) error = %v, want error %v", tt.expr, err, tt.wantErr)
			}
			var got []string
			for _, s := range samples {
				got = append(got, s.Value)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Query(%s) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}
