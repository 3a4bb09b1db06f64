package metrics_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/metrics/prometheustest"
)

// epoch is the fixed "now" of the tests.
var epoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// smallFilter describes a real bloom filter for 1,000 hashes at a 0.1%
// false-positive rate: m = ceil(-n ln p / ln²2) = 14378 bits and
// k = ceil(m/n ln 2) = 10 hash functions.
var smallFilter = safereset.FilterInfo{
	Version:   2,
	Elements:  1000,
	Bits:      14378,
	K:         10,
	TargetFPR: 0.001,
	LoadedAt:  epoch.Add(-time.Hour),
	BuiltAt:   epoch.Add(-10 * 24 * time.Hour),
	Source:    "test list",
	Path:      "/tmp/test.filter",
}

// outbox is a settable outbox state for metrics.Sources.Outbox.
type outbox struct {
	mu     sync.Mutex
	depth  int
	oldest time.Time
	err    error
}

func (o *outbox) Stats() (int, time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.depth, o.oldest, o.err
}

func (o *outbox) Set(depth int, oldest time.Time, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.depth, o.oldest, o.err = depth, oldest, err
}

// fixture is a registry with safereset's collectors and the sources they
// read at scrape time.
type fixture struct {
	reg    *prometheus.Registry
	m      *metrics.Metrics
	clock  *testclock.Clock
	outbox *outbox
	ready  atomic.Bool // what /readyz would answer; true from the start
}

// newFixture registers metrics.New on a fresh registry, with the small
// filter above and an outbox of 3 messages, the oldest 90 seconds old.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		clock:  testclock.New(epoch),
		outbox: &outbox{depth: 3, oldest: epoch.Add(-90 * time.Second)},
	}
	f.m = metrics.New(metrics.Sources{
		Filter: func() safereset.FilterInfo { return smallFilter },
		Outbox: f.outbox.Stats,
		Now:    f.clock.Now,
		Ready:  f.ready.Load,
	})
	f.ready.Store(true)
	f.reg = f.m.Registry()
	return f
}

// gather returns the registry's families by name.
func (f *fixture) gather(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// series returns the metric of family name whose labels are exactly want.
func (f *fixture) series(t *testing.T, name string, want map[string]string) (*dto.Metric, bool) {
	t.Helper()
	mf, ok := f.gather(t)[name]
	if !ok {
		return nil, false
	}
	for _, m := range mf.GetMetric() {
		if labelsOf(m).equal(want) {
			return m, true
		}
	}
	return nil, false
}

// value returns the counter or gauge value of one series; the test fails
// when the series does not exist.
func (f *fixture) value(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := f.series(t, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("series %s%v is neither counter nor gauge", name, labels)
	return 0
}

// histogramCount returns the sample count of one histogram series, 0 when
// it has not been observed yet.
func (f *fixture) histogramCount(t *testing.T, name string, labels map[string]string) uint64 {
	t.Helper()
	m, ok := f.series(t, name, labels)
	if !ok {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

type labelSet map[string]string

func labelsOf(m *dto.Metric) labelSet {
	out := labelSet{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func (l labelSet) equal(want map[string]string) bool {
	if len(l) != len(want) {
		return false
	}
	for k, v := range want {
		if l[k] != v {
			return false
		}
	}
	return true
}

func (l labelSet) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// requireTool returns the path of an external program; see
// prometheustest.RequireBinary.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	return prometheustest.RequireBinary(t, name)
}

// metricsDir is the directory of this package's sources, where the
// dashboard and alert files live.
func metricsDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Dir(file)
}

// runTool runs a program and returns its combined output, failing the test
// with that output when it exits non-zero.
func runTool(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = metricsDir(t)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}
