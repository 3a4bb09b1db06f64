package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/seal"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/mail/mailtest"
	"github.com/safereset/safereset/metrics"
	"github.com/safereset/safereset/store"
)

func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
}

// logRecorder is a slog.Handler that hands every record to the test.
type logRecorder struct {
	attrs []slog.Attr
	ch    chan logLine
}

type logLine struct {
	msg   string
	attrs map[string]string
}

func newLogRecorder() *logRecorder { return &logRecorder{ch: make(chan logLine, 1000)} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{attrs: append(append([]slog.Attr(nil), h.attrs...), as...), ch: h.ch}
}

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l := logLine{msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		l.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		l.attrs[a.Key] = a.Value.String()
		return true
	})
	h.ch <- l
	return nil
}

func (l logLine) String() string { return fmt.Sprintf("%s %v", l.msg, l.attrs) }

// harness is one worker with its store, SMTP server, clock, logs and metrics.
type harness struct {
	t      *testing.T
	clock  *testclock.Clock
	path   string
	db     *store.DB
	srv    *mailtest.Server
	logs   *logRecorder
	reg    *prometheus.Registry
	met    *metrics.Metrics
	worker *mail.Worker
	key    []byte // outbox sealing key, kept across reopens
	cancel context.CancelFunc
	done   chan error
	seen   []logLine
}

const (
	testBase = time.Minute
	testMax  = 8 * time.Minute
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock(), path: filepath.Join(t.TempDir(), "safereset.db"), srv: mailtest.Start(t), logs: newLogRecorder(), key: newKey(t)}
	h.met = metrics.New(metrics.Sources{})
	h.reg = h.met.Registry()
	h.openStore()
	t.Cleanup(func() {
		h.stopWorker()
		if h.db != nil {
			h.db.Close()
		}
		h.checkLogs()
	})
	return h
}

func (h *harness) openStore() {
	h.t.Helper()
	db, err := store.Open(h.path, store.Options{Now: h.clock.Now, OutboxKey: h.key})
	if err != nil {
		h.t.Fatalf("store.Open: %v", err)
	}
	h.db = db
}

func (h *harness) closeStore() {
	h.t.Helper()
	if err := h.db.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.db = nil
}

func (h *harness) startWorker() {
	h.t.Helper()
	sender, err := mail.NewSMTPSender(mail.SMTPConfig{URL: h.srv.URL(), Timeout: 10 * time.Second})
	if err != nil {
		h.t.Fatal(err)
	}
	h.worker = mail.NewWorker(mail.WorkerConfig{
		Store: h.db, Sender: sender, Metrics: h.met, Logger: slog.New(h.logs), Now: h.clock.Now,
		BaseBackoff: testBase, MaxBackoff: testMax,
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.worker.Run(ctx) }()
}

// stopWorker cancels Run and waits for it to return.
func (h *harness) stopWorker() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.cancel = nil
}

// enqueue queues a token mail to addr whose body carries marker.
func (h *harness) enqueue(addr, marker string, notAfter time.Time) uint64 {
	h.t.Helper()
	m := safereset.Message{Kind: safereset.MailToken, To: addr, Subject: "Reset", Text: "token " + testToken + " marker " + marker + "\n"}
	id, err := h.db.EnqueueMail(context.Background(), safereset.OutboxEntry{Message: m, NotAfter: notAfter})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// waitResult waits for the worker's log line with result=want (lines
// before it are kept for checkLogs).
func (h *harness) waitResult(want string) logLine {
	h.t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case l := <-h.logs.ch:
			h.seen = append(h.seen, l)
			if l.attrs["result"] == want {
				return l
			}
		case <-timeout.C:
			h.t.Fatalf("no log line with result=%s; saw %v", want, h.seen)
		}
	}
}

// checkLogs fails if any log line holds the token or a full address.
func (h *harness) checkLogs() {
	h.t.Helper()
	for {
		select {
		case l := <-h.logs.ch:
			h.seen = append(h.seen, l)
			continue
		default:
		}
		break
	}
	for _, l := range h.seen {
		s := l.String()
		if strings.Contains(s, testToken) || strings.Contains(s, "bob@example.com") || strings.Contains(s, "marker") {
			h.t.Errorf("log line leaks a secret or address: %s", s)
		}
	}
}

func (h *harness) outbox() []safereset.OutboxEntry {
	h.t.Helper()
	es, err := h.db.DueMail(context.Background(), h.clock.Now().Add(1000*time.Hour), 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func (h *harness) sends(kind, result string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "safereset_mail_sends_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["kind"] == kind && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	h.t.Fatalf("no sends counter for %s/%s", kind, result)
	return 0
}

func bodyMarkers(t *testing.T, msgs []mailtest.Message) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		p, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		_, after, ok := strings.Cut(p.Text, "marker ")
		if !ok {
			t.Fatalf("no marker in %q", p.Text)
		}
		out = append(out, strings.TrimSpace(after))
	}
	return out
}

func TestWorker_DeliversThenDeletes(t *testing.T) {
	h := newHarness(t)
	h.enqueue("bob@example.com", "one", time.Time{})
	h.startWorker()
	msgs := h.srv.WaitFor(1, waitTimeout)
	l := h.waitResult("sent")
	if l.attrs["to"] != "b***@example.com" {
		t.Errorf("logged address %q", l.attrs["to"])
	}
	if got := bodyMarkers(t, msgs); len(got) != 1 || got[0] != "one" {
		t.Errorf("markers %v", got)
	}
	if es := h.outbox(); len(es) != 0 {
		t.Errorf("outbox still holds %v", es)
	}
	if !h.worker.Alive() {
		t.Error("Alive() = false while running")
	}

	// Notify picks up mail queued while the worker sleeps.
	h.enqueue("bob@example.com", "two", time.Time{})
	h.worker.Notify()
	h.srv.WaitFor(2, waitTimeout)
	h.waitResult("sent")
	if got := h.sends("token", "sent"); got != 2 {
		t.Errorf("sent counter = %v, want 2", got)
	}
	h.stopWorker()
	if h.worker.Alive() {
		t.Error("Alive() = true after Run returned")
	}
}

func TestWorker_RetriesUntilServerComesBack(t *testing.T) {
	h := newHarness(t)
	h.srv.Stop()
	start := h.clock.Now()
	id := h.enqueue("bob@example.com", "one", start.Add(time.Hour))
	h.startWorker()

	// Each failure is rescheduled further out, within [d/2, d] of the
	// doubling backoff, capped at testMax.
	for attempt := 1; attempt <= 5; attempt++ {
		h.waitResult("retry")
		es := h.outbox()
		if len(es) != 1 || es[0].ID != id {
			t.Fatalf("outbox %v", es)
		}
		e := es[0]
		if e.Attempts != attempt {
			t.Errorf("Attempts = %d, want %d", e.Attempts, attempt)
		}
		if e.LastError != "smtp connection failed" {
			t.Errorf("LastError = %q", e.LastError)
		}
		d := min(testBase<<(attempt-1), testMax)
		if wait := e.NextAttempt.Sub(h.clock.Now()); wait < d/2 || wait > d {
			t.Errorf("attempt %d: next try in %v, want within [%v, %v]", attempt, wait, d/2, d)
		}
		// Not yet due: a wake-up must not send early (the next iteration
		// would see Attempts off by one).
		h.worker.Notify()
		if attempt == 5 {
			break // the server comes back before the next try
		}
		h.clock.Advance(e.NextAttempt.Sub(h.clock.Now()))
		h.worker.Notify()
	}
	if got := h.sends("token", "retry"); got != 5 {
		t.Errorf("retry counter = %v, want 5", got)
	}

	h.srv.Restart()
	h.clock.Advance(testMax)
	h.worker.Notify()
	msgs := h.srv.WaitFor(1, waitTimeout)
	h.waitResult("sent")
	if got := bodyMarkers(t, msgs); len(got) != 1 || got[0] != "one" {
		t.Errorf("markers %v", got)
	}
	if es := h.outbox(); len(es) != 0 {
		t.Errorf("outbox still holds %v", es)
	}
}

func TestWorker_Drops(t *testing.T) {
	tests := []struct {
		name      string
		script    []mailtest.Behavior
		notAfter  time.Duration // from now; 0 = none
		attempts  int           // SMTP transactions expected for the dropped mail
		wantInLog string
	}{
		{name: "Permanent5xx", script: []mailtest.Behavior{{Stage: mailtest.StageRcpt, Code: 550}}, attempts: 1, wantInLog: "RCPT TO rejected: 550"},
		{name: "Expired", notAfter: -time.Second, attempts: 0, wantInLog: "expired"},
		{name: "RetryAfterExpiry", script: []mailtest.Behavior{mailtest.Reply(451)}, notAfter: testBase / 4, attempts: 1, wantInLog: "451"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.Script(tt.script...)
			var notAfter time.Time
			if tt.notAfter != 0 {
				notAfter = h.clock.Now().Add(tt.notAfter)
			}
			h.enqueue("bob@example.com", "dropped", notAfter)
			h.startWorker()
			l := h.waitResult("dropped")
			if !strings.Contains(l.String(), tt.wantInLog) {
				t.Errorf("drop log %q does not mention %q", l, tt.wantInLog)
			}
			if es := h.outbox(); len(es) != 0 {
				t.Errorf("outbox still holds %v", es)
			}
			if got := h.sends("token", "dropped"); got != 1 {
				t.Errorf("dropped counter = %v", got)
			}
			// Time passes and a new mail is queued: it is delivered, and
			// the dropped one is never tried again.
			h.clock.Advance(time.Hour)
			h.enqueue("bob@example.com", "later", time.Time{})
			h.worker.Notify()
			msgs := h.srv.WaitFor(1, waitTimeout)
			h.waitResult("sent")
			if got := bodyMarkers(t, msgs); len(got) != 1 || got[0] != "later" {
				t.Errorf("delivered %v, want only [later]", got)
			}
			if got := h.srv.Attempts(); got != tt.attempts+1 {
				t.Errorf("SMTP transactions = %d, want %d", got, tt.attempts+1)
			}
		})
	}
}

func newKey(t *testing.T) []byte {
	t.Helper()
	k, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestWorker_DropsUnreadable: mail queued under another outbox key (a
// database restored without its key) is dropped unsent, counted and
// logged, and the worker carries on with mail it can read.
func TestWorker_DropsUnreadable(t *testing.T) {
	h := newHarness(t)
	h.enqueue("bob@example.com", "old", time.Time{})
	h.enqueue("bob@example.com", "old2", time.Time{})
	h.closeStore()
	h.key = newKey(t)
	h.openStore()
	h.enqueue("bob@example.com", "new", time.Time{})
	h.startWorker()
	for range 2 {
		if l := h.waitResult("dropped"); !strings.Contains(l.msg, "cannot be opened") || l.attrs["kind"] != "token" {
			t.Errorf("drop log = %v", l)
		}
	}
	msgs := h.srv.WaitFor(1, waitTimeout)
	h.waitResult("sent")
	if got := bodyMarkers(t, msgs); len(got) != 1 || got[0] != "new" {
		t.Errorf("delivered %v, want only [new]", got)
	}
	if got := h.sends("token", "dropped"); got != 2 {
		t.Errorf("dropped counter = %v, want 2", got)
	}
	if es := h.outbox(); len(es) != 0 {
		t.Errorf("outbox still holds %v", es)
	}
	if got := h.srv.Attempts(); got != 1 {
		t.Errorf("SMTP transactions = %d, want 1", got)
	}
}

func TestWorker_OutboxSurvivesReopen(t *testing.T) {
	h := newHarness(t)
	h.enqueue("bob@example.com", "one", time.Time{})
	h.enqueue("bob@example.com", "two", time.Time{})
	h.closeStore()
	h.openStore()
	h.startWorker()
	msgs := h.srv.WaitFor(2, waitTimeout)
	h.waitResult("sent")
	h.waitResult("sent")
	if got := bodyMarkers(t, msgs); strings.Join(got, ",") != "one,two" {
		t.Errorf("delivered %v, want [one two] in order", got)
	}
}

func TestWorker_CleanShutdownMidSend(t *testing.T) {
	h := newHarness(t)
	gate := make(chan struct{})
	h.srv.Script(mailtest.Behavior{Gate: gate})
	h.enqueue("bob@example.com", "one", time.Time{})
	h.enqueue("bob@example.com", "two", time.Time{})
	h.startWorker()

	// The first send is in flight (the server holds its DATA reply) when
	// shutdown begins; it must complete and be removed, and the second
	// must not start.
	if err := h.srv.WaitAttempts(1, waitTimeout); err != nil {
		t.Fatal(err)
	}
	h.cancel()
	close(gate)
	if err := <-h.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.cancel = nil
	if got := bodyMarkers(t, h.srv.Messages()); strings.Join(got, ",") != "one" {
		t.Fatalf("delivered before shutdown %v, want [one]", got)
	}
	es := h.outbox()
	if len(es) != 1 || !strings.Contains(es[0].Message.Text, "marker two") || es[0].Attempts != 0 {
		t.Fatalf("outbox after shutdown %+v, want only the untouched second mail", es)
	}

	// Restart (new store handle, new worker): only the second is sent.
	h.closeStore()
	h.openStore()
	h.startWorker()
	msgs := h.srv.WaitFor(2, waitTimeout)
	h.waitResult("sent")
	h.stopWorker()
	if got := bodyMarkers(t, h.srv.Messages()); strings.Join(got, ",") != "one,two" || len(msgs) != 2 {
		t.Errorf("delivered %v, want [one two] once each", got)
	}
	if es := h.outbox(); len(es) != 0 {
		t.Errorf("outbox still holds %v", es)
	}
}

func TestWorker_RunTwiceAndAlive(t *testing.T) {
	h := newHarness(t)
	if h.worker != nil {
		t.Fatal("unexpected worker")
	}
	w := mail.NewWorker(mail.WorkerConfig{Store: h.db, Sender: mustSMTP(t, mail.SMTPConfig{URL: h.srv.URL()}), Now: h.clock.Now})
	if w.Alive() {
		t.Error("Alive() before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Two concurrent Runs: exactly one is refused at once, the other runs
	// until ctx ends.
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- w.Run(ctx) }()
	}
	if err := <-done; err == nil {
		t.Fatal("one of two concurrent Runs must be refused")
	}
	if !w.Alive() {
		t.Error("Alive() = false while Run runs")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("running Run returned %v after cancel", err)
	}
	if w.Alive() {
		t.Error("Alive() after Run returned")
	}
	if err := mail.NewWorker(mail.WorkerConfig{}).Run(context.Background()); err == nil {
		t.Error("Run without Store and Sender succeeded")
	}
}

func TestWorker_AliveReportsWedgedSend(t *testing.T) {
	h := newHarness(t)
	gate := make(chan struct{})
	h.srv.Script(mailtest.Behavior{Gate: gate})
	h.enqueue("bob@example.com", "one", time.Time{})
	h.startWorker()
	if err := h.srv.WaitAttempts(1, waitTimeout); err != nil {
		t.Fatal(err)
	}
	if !h.worker.Alive() {
		t.Error("Alive() = false at the start of a send")
	}
	// The send hangs far longer than SendTimeout (default 30s) plus slack.
	h.clock.Advance(mail.DefaultSendTimeout + 2*time.Minute)
	if h.worker.Alive() {
		t.Error("Alive() = true while one send has been stuck for minutes")
	}
	close(gate)
	h.waitResult("sent")
	if !h.worker.Alive() {
		t.Error("Alive() = false after the send finished")
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&mail.SendError{Reason: "smtp RCPT TO rejected: 550"}, "smtp RCPT TO rejected: 550"},
		{fmt.Errorf("relay said 550 <bob@example.com>: %w", safereset.ErrMailPermanent), "permanent failure"},
		{fmt.Errorf("dial bob@example.com: %w", context.DeadlineExceeded), "timeout"},
		{fmt.Errorf("sending %s: oops", testToken), "send failed"},
	}
	for _, tt := range tests {
		if got := mail.Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
