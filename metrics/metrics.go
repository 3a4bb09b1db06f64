package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/safereset/safereset"
)

// Routes are the fixed route label values; a request is counted under one
// of these, never under a path taken from the request.
var Routes = []safereset.Route{safereset.RouteRequest, safereset.RouteReset, safereset.RouteCheck, safereset.RouteDoc, safereset.RoutePage, safereset.RouteNotMe, safereset.RouteOther}

// counted are the routes whose codes, rejections and clients are counted.
var counted = []safereset.Route{safereset.RouteRequest, safereset.RouteReset}

// Metrics holds every safereset collector. All methods are safe on a nil
// *Metrics, so packages can be used without metrics in tests.
type Metrics struct {
	responses    *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	rateLimited  *prometheus.CounterVec
	breachChecks *prometheus.CounterVec
	mailSends    *prometheus.CounterVec
	hashDuration prometheus.Histogram
	hashInFlight prometheus.Gauge
	byClient     *prometheus.CounterVec
	ranges       rangeCollectors
	events       eventMetrics
	locks        prometheus.Counter
	now          func() time.Time
	reg          *prometheus.Registry

	clientsMu sync.Mutex
	clients   map[string]struct{} // client label values handed out so far
}

// MaxClientLabels bounds the client label of safereset_client_requests_total:
// the first MaxClientLabels distinct clients get their own series, later
// ones are counted as "other", so an identity provider that mints a subject
// per user cannot blow up the series count.
const MaxClientLabels = 100

// Results counted by BreachCheck.
const (
	BreachOK       = "ok"
	BreachBreached = "breached"
	BreachWeak     = "weak"
	BreachError    = "error"
)

// Results counted by MailSend: delivered, failed but queued for another
// try, given up for good (permanent failure or past the token's expiry),
// and failed without a retry (the synchronous confirmation mail).
const (
	MailSent    = "sent"
	MailRetry   = "retry"
	MailDropped = "dropped"
	MailFailed  = "failed"
)

// Other is the label value counted in place of any route, code, kind or
// result outside the fixed sets, so a caller's mistake can never put an
// unbounded or request-controlled value in a label.
const Other = "other"

// Sources are read at scrape time for gauges whose truth lives elsewhere.
type Sources struct {
	Filter func() safereset.FilterInfo
	Outbox func() (depth int, oldest time.Time, err error)
	Now    func() time.Time
	// Ready reports what /readyz would answer (nil: no readiness gauge).
	Ready func() bool
	// Exact, when set, reports the two-stage breach check's counts.
	Exact func() ExactCounts
}

// New creates the collectors and registers them, with the Go and process
// collectors, on a registry of its own; Handler serves it.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "safereset_responses_total",
			Help: "Responses by route and code; one count per code in each response, code=\"OK\" for success.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "safereset_http_request_duration_seconds",
			Help: "Time to answer a request, by route and HTTP status.",
			// From the sub-millisecond rejection path up to queued argon2id work.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "status"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "safereset_ratelimit_rejections_total",
			Help: "Requests rejected by a rate limit, by route and key kind.",
		}, []string{"route", "kind"}),
		breachChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "safereset_breach_checks_total",
			Help: "New-password checks by result (ok, breached, weak, error).",
		}, []string{"result"}),
		mailSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "safereset_mail_sends_total",
			Help: "Mail delivery attempts by kind (token, confirmation) and result (sent, retry, dropped, failed).",
		}, []string{"kind", "result"}),
		hashDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "safereset_password_hash_duration_seconds",
			Help:    "Time to compute one argon2id hash, including the wait for a hashing slot.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		hashInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "safereset_password_hash_in_flight",
			Help: "Password hashes being computed or waiting for a slot.",
		}),
	}
	m.byClient = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safereset_client_requests_total",
		Help: "Authenticated reset requests by route and client (API key name or JWT subject; at most MaxClientLabels clients, then \"other\").",
	}, []string{"route", "client"})
	m.clients = make(map[string]struct{})
	reg.MustRegister(m.responses, m.duration, m.rateLimited, m.breachChecks, m.mailSends, m.hashDuration, m.hashInFlight, m.byClient)
	m.initEvents(reg)
	m.initLocks(reg)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.ranges = newRangeCollectors(reg)
	if src.Exact != nil {
		registerExact(reg, src.Exact)
	}

	// Every code exists at 0 from the start, so alerts and dashboards work
	// before the first error.
	for _, r := range counted {
		route := string(r)
		m.responses.WithLabelValues(route, string(safereset.CodeOK))
		for _, e := range safereset.Catalog() {
			m.responses.WithLabelValues(route, string(e.Code))
		}
		for _, kind := range []safereset.LimitKind{safereset.LimitIP, safereset.LimitEmail} {
			m.rateLimited.WithLabelValues(route, string(kind))
		}
	}
	for _, r := range []string{BreachOK, BreachBreached, BreachWeak, BreachError} {
		m.breachChecks.WithLabelValues(r)
	}
	for _, k := range []safereset.MailKind{safereset.MailToken, safereset.MailConfirmation} {
		for _, r := range []string{MailSent, MailRetry, MailDropped, MailFailed} {
			m.mailSends.WithLabelValues(string(k), r)
		}
	}

	now := src.Now
	if now == nil {
		now = time.Now
	}
	m.now = now
	if src.Filter != nil {
		gauge := func(name, help string, f func(safereset.FilterInfo) float64) {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
				func() float64 { return f(src.Filter()) }))
		}
		gauge("safereset_breach_filter_elements", "Hashes in the loaded breach filter.", func(i safereset.FilterInfo) float64 { return float64(i.Elements) })
		// Prometheus names use base units, so m bits are exposed as m/8 bytes
		// (promtool check metrics refuses a "_bits" name).
		gauge("safereset_breach_filter_size_bytes", "Size of the loaded breach filter's bit array (m/8).", func(i safereset.FilterInfo) float64 { return float64(i.Bits) / 8 })
		gauge("safereset_breach_filter_hashes", "Hash functions (k) of the loaded breach filter.", func(i safereset.FilterInfo) float64 { return float64(i.K) })
		gauge("safereset_breach_filter_format_version", "Format version of the loaded breach filter file (1 bloom/v3 layout, 2 blocked).", func(i safereset.FilterInfo) float64 { return float64(i.Version) })
		gauge("safereset_breach_filter_target_fpr", "Target false-positive rate of the loaded breach filter.", func(i safereset.FilterInfo) float64 { return i.TargetFPR })
		gauge("safereset_breach_filter_loaded_timestamp_seconds", "When the breach filter was loaded (Unix time).", func(i safereset.FilterInfo) float64 { return unix(i.LoadedAt) })
		gauge("safereset_breach_filter_built_timestamp_seconds", "When the loaded breach filter was built (Unix time).", func(i safereset.FilterInfo) float64 { return unix(i.BuiltAt) })
	}
	if src.Outbox != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "safereset_mail_outbox_depth", Help: "Messages waiting in the durable outbox.",
		}, func() float64 {
			d, _, err := src.Outbox()
			if err != nil {
				return -1
			}
			return float64(d)
		}))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "safereset_mail_outbox_oldest_age_seconds", Help: "Age of the oldest message in the outbox (0 when empty).",
		}, func() float64 {
			_, oldest, err := src.Outbox()
			if err != nil || oldest.IsZero() {
				return 0
			}
			return now().Sub(oldest).Seconds()
		}))
	}
	if src.Ready != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "safereset_ready", Help: "1 while /readyz answers 200 (database, breach filter and outbox worker ready), else 0.",
		}, func() float64 {
			if src.Ready() {
				return 1
			}
			return 0
		}))
	}
	return m
}

// Handler serves the Prometheus exposition of every collector.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry New filled, for tests that gather or lint it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// Response counts one response: each code once, or "OK" when codes is empty,
// and its duration under the HTTP status. A route outside Routes or a code
// outside the catalog is counted as Other.
func (m *Metrics) Response(r safereset.Route, status int, codes []safereset.Code, d time.Duration) {
	if m == nil {
		return
	}
	route := oneOf(r, Routes...)
	if len(codes) == 0 {
		m.responses.WithLabelValues(route, string(safereset.CodeOK)).Inc()
	}
	for _, c := range codes {
		m.responses.WithLabelValues(route, codeLabel(c)).Inc()
	}
	m.duration.WithLabelValues(route, statusLabel(status)).Observe(d.Seconds())
}

// ClientRequest counts one authenticated request of client on route. The
// client is an operator-controlled name ("apikey:NAME" or "jwt:SUBJECT",
// both validated printable), never request data, and its label values are
// capped at MaxClientLabels.
func (m *Metrics) ClientRequest(r safereset.Route, client string) {
	if m == nil || client == "" {
		return
	}
	route := oneOf(r, counted...)
	m.clientsMu.Lock()
	if _, ok := m.clients[client]; !ok {
		if len(m.clients) >= MaxClientLabels {
			client = Other
		} else {
			m.clients[client] = struct{}{}
		}
	}
	m.clientsMu.Unlock()
	m.byClient.WithLabelValues(route, client).Inc()
}

// RateLimited counts one request rejected by the kind's limit on route. An
// unknown route or kind is counted as Other.
func (m *Metrics) RateLimited(route safereset.Route, kind safereset.LimitKind) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(oneOf(route, counted...), oneOf(kind, safereset.LimitIP, safereset.LimitEmail)).Inc()
}

// BreachCheck counts one password check by result: BreachOK, BreachBreached,
// BreachWeak or BreachError (anything else is counted as Other).
func (m *Metrics) BreachCheck(result string) {
	if m == nil {
		return
	}
	m.breachChecks.WithLabelValues(oneOf(result, BreachOK, BreachBreached, BreachWeak, BreachError)).Inc()
}

// MailSend counts one delivery attempt by kind and result: MailSent,
// MailRetry, MailDropped or MailFailed (anything else is counted as Other).
func (m *Metrics) MailSend(kind safereset.MailKind, result string) {
	if m == nil {
		return
	}
	m.mailSends.WithLabelValues(oneOf(kind, safereset.MailToken, safereset.MailConfirmation), oneOf(result, MailSent, MailRetry, MailDropped, MailFailed)).Inc()
}

// HashStarted marks one hash waiting or running; call the returned func
// when it is done (calling it again does nothing).
func (m *Metrics) HashStarted() (done func()) {
	if m == nil {
		return func() {}
	}
	start := m.now()
	m.hashInFlight.Inc()
	var once sync.Once
	return func() {
		// Calling done twice must not drive the gauge below zero.
		once.Do(func() {
			m.hashInFlight.Dec()
			m.hashDuration.Observe(m.now().Sub(start).Seconds())
		})
	}
}

// oneOf returns v as a label value when it is in set, else Other.
func oneOf[S ~string](v S, set ...S) string {
	for _, s := range set {
		if s == v {
			return string(v)
		}
	}
	return Other
}

// codeLabel returns c when it is OK or in the catalog, else Other.
func codeLabel(c safereset.Code) string {
	if _, ok := safereset.Lookup(c); ok || c == safereset.CodeOK {
		return string(c)
	}
	return Other
}

func statusLabel(status int) string {
	switch {
	case status >= 100 && status < 600:
		return itoa3(status)
	default:
		return Other
	}
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}
