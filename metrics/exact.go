package metrics

import "github.com/prometheus/client_golang/prometheus"

// ExactCounts are the counts of the two-stage breach check (a filter hit
// confirmed against the exact store), read at scrape time.
type ExactCounts struct {
	BloomHits, Confirmed, FalsePositives, BelowMinCount uint64
}

// Results counted by RangeRequest.
const (
	RangeOK          = "ok"
	RangeNotModified = "not_modified"
	RangeBadRequest  = "bad_request"
	RangeLimited     = "limited"
	RangeError       = "error"
)

func registerExact(reg prometheus.Registerer, f func() ExactCounts) {
	counter := func(name, help string, v func(ExactCounts) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(f())) }))
	}
	counter("safereset_breach_bloom_hits_total", "Password lookups the bloom filter reported as breached, each confirmed against the exact store.", func(c ExactCounts) uint64 { return c.BloomHits })
	counter("safereset_breach_exact_confirmed_total", "Bloom filter hits the exact store confirmed (seen at least --breach-min-count times).", func(c ExactCounts) uint64 { return c.Confirmed })
	counter("safereset_breach_false_positives_avoided_total", "Bloom filter hits absent from the exact store: passwords the filter alone would have refused.", func(c ExactCounts) uint64 { return c.FalsePositives })
	counter("safereset_breach_below_min_count_total", "Bloom filter hits in the exact store fewer than --breach-min-count times, accepted.", func(c ExactCounts) uint64 { return c.BelowMinCount })
}

type rangeCollectors struct {
	requests *prometheus.CounterVec
	duration prometheus.Histogram
}

func newRangeCollectors(reg prometheus.Registerer) rangeCollectors {
	r := rangeCollectors{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "safereset_range_requests_total",
			Help: "Pwned Passwords range API requests by result (ok, not_modified, bad_request, limited, error) and whether padding was asked for.",
		}, []string{"result", "padded"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "safereset_range_request_duration_seconds",
			Help:    "Time to answer a range API request.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .1},
		}),
	}
	reg.MustRegister(r.requests, r.duration)
	for _, res := range []string{RangeOK, RangeNotModified, RangeBadRequest, RangeLimited, RangeError} {
		r.requests.WithLabelValues(res, "false")
		r.requests.WithLabelValues(res, "true")
	}
	return r
}

// RangeRequest counts one range API answer and its duration in seconds.
func (m *Metrics) RangeRequest(result string, padded bool, seconds float64) {
	if m == nil {
		return
	}
	p := "false"
	if padded {
		p = "true"
	}
	m.ranges.requests.WithLabelValues(oneOf(result, RangeOK, RangeNotModified, RangeBadRequest, RangeLimited, RangeError), p).Inc()
	m.ranges.duration.Observe(seconds)
}
