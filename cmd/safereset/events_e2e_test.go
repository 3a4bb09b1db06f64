package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/webhooktest"
)

// hookReceiver is an application's webhook endpoint: it verifies every
// request with the Standard Webhooks reference library under the secret
// safereset generated, fails while fail() says so, and keeps the accepted
// events deduplicated by webhook-id, as the README tells receivers to.
type hookReceiver struct {
	t        *testing.T
	srv      *httptest.Server
	mu       sync.Mutex
	dataDir  string
	fail     func(attempt int) bool
	attempts int
	idsByTyp map[safereset.EventType]map[string]int // every id seen per type, with attempts
	accepted map[string]safereset.Event             // by webhook-id
	bad      []string                               // verification failures
	raw      []webhooktest.Delivery                 // every verified request, as received
	arrived  chan struct{}
}

func newHookReceiver(t *testing.T, dataDir string, fail func(attempt int) bool) *hookReceiver {
	r := &hookReceiver{t: t, dataDir: dataDir, fail: fail, idsByTyp: map[safereset.EventType]map[string]int{},
		accepted: map[string]safereset.Event{}, arrived: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) URL() string { return r.srv.URL + "/hooks/safereset" }

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}()
	r.attempts++
	secret, err := os.ReadFile(filepath.Join(r.dataDir, "webhook.secret"))
	if err != nil {
		r.bad = append(r.bad, "no secret file: "+err.Error())
		w.WriteHeader(500)
		return
	}
	wh, err := standardwebhooks.NewWebhook(strings.TrimSpace(string(secret)))
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err != nil {
		r.bad = append(r.bad, err.Error())
		w.WriteHeader(400)
		return
	}
	var ev safereset.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		r.bad = append(r.bad, "body: "+err.Error())
		w.WriteHeader(400)
		return
	}
	r.raw = append(r.raw, webhooktest.Delivery{Body: string(body), Headers: map[string]string{
		"webhook-id": req.Header.Get("webhook-id"), "webhook-timestamp": req.Header.Get("webhook-timestamp"),
		"webhook-signature": req.Header.Get("webhook-signature")}})
	id := req.Header.Get("webhook-id")
	if r.idsByTyp[ev.Type] == nil {
		r.idsByTyp[ev.Type] = map[string]int{}
	}
	r.idsByTyp[ev.Type][id]++
	if r.fail != nil && r.fail(r.attempts) {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.accepted[id] = ev // a repeated id replaces itself: deduplicated
	w.WriteHeader(http.StatusNoContent)
}

// acceptedOf returns the accepted events of type typ.
func (r *hookReceiver) acceptedOf(typ safereset.EventType) []safereset.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []safereset.Event
	for _, ev := range r.accepted {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// waitAccepted waits for an accepted event of typ; the receiver is
// another goroutine fed by the server's outbox worker.
func (r *hookReceiver) waitAccepted(typ safereset.EventType) safereset.Event {
	r.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if evs := r.acceptedOf(typ); len(evs) > 0 {
			return evs[0]
		}
		select {
		case <-r.arrived:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			r.t.Fatalf("no %s accepted within 30s (attempts %d, failures %v)", typ, r.attempts, r.bad)
		}
	}
}

func (r *hookReceiver) check() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Errorf("deliveries that failed verification: %v", r.bad)
	}
}

// hookArgs point the server at r with quick retries.
func hookArgs(r *hookReceiver) []string {
	return []string{"--webhook-url", r.URL(), "--mail-retry-base", "50ms", "--mail-retry-max", "200ms"}
}

// TestEvents_RetriedUntilAcceptedOnce: a receiver failing the first 3
// attempts still gets password.reset_requested and password.changed, every
// attempt of one event carries the same webhook-id (so dedup leaves exactly
// one), each verifies with the reference library, and the data names the
// user, the stored address, the client and the request.
func TestEvents_RetriedUntilAcceptedOnce(t *testing.T) {
	dir := t.TempDir()
	recv := newHookReceiver(t, dir, func(n int) bool { return n <= 3 })
	s := startServer(t, dir, hookArgs(recv)...)
	s.addUser(alice, oldPW)
	key := s.apiKey("shop")

	if r := s.post(key, "Alice@Example.com"); r.Status != 202 {
		t.Fatalf("POST: %d", r.Status)
	}
	// An unknown address raises nothing.
	if r := s.post(key, "nobody@example.com"); r.Status != 202 {
		t.Fatalf("POST unknown: %d", r.Status)
	}
	tok := s.waitToken(alice, 1)
	r := s.do("PATCH", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key, "X-Request-Id": "reset-req-1"},
		`{"emailAddress":"alice@example.com","password":"`+strongPW+`","passwordVerify":"`+strongPW+`","token":"`+tok+`"}`)
	if r.Status != 204 {
		t.Fatalf("PATCH: %d %v", r.Status, r.Codes())
	}

	changed := recv.waitAccepted(safereset.EventPasswordChanged)
	requested := recv.waitAccepted(safereset.EventResetRequested)
	recv.check()
	recv.mu.Lock()
	attempts := recv.attempts
	changedIDs := len(recv.idsByTyp[safereset.EventPasswordChanged])
	requestedIDs := len(recv.idsByTyp[safereset.EventResetRequested])
	recv.mu.Unlock()
	if attempts < 5 {
		t.Errorf("%d attempts in all, want at least 3 failures and 2 successes", attempts)
	}
	if changedIDs != 1 || requestedIDs != 1 {
		t.Errorf("distinct webhook-ids: %d password.changed, %d password.reset_requested; want 1 each (one id on every retry)", changedIDs, requestedIDs)
	}
	if n := len(recv.acceptedOf(safereset.EventPasswordChanged)); n != 1 {
		t.Errorf("%d password.changed after dedup, want 1", n)
	}
	if changed.Data.UserID == 0 || changed.Data.Email != alice || changed.Data.Client != "apikey:shop" || changed.Data.RequestID != "reset-req-1" {
		t.Errorf("password.changed data = %+v", changed.Data)
	}
	// The stored address, never the string the request carried.
	if requested.Data.Email != alice || requested.Data.UserID != changed.Data.UserID {
		t.Errorf("password.reset_requested data = %+v", requested.Data)
	}
	// The worker counts a delivery when the receiver's answer is back, a
	// moment after the receiver saw the request: wait for the count to
	// move, then check it moved by exactly one.
	var sent string
	waitFor(t, func() bool {
		sent = metricLine(t, s.Admin, `safereset_webhook_deliveries_total{event="password.changed",result="sent"}`)
		return !strings.HasSuffix(sent, " 0")
	}, "the password.changed sent counter")
	if !strings.HasSuffix(sent, " 1") {
		t.Errorf("sent counter: %q", sent)
	}

	// A reload raises breach.filter_reloaded, also signed.
	if st := s.admin("POST", "/admin/v1/breach/reload", nil, nil); st != 200 {
		t.Fatalf("reload: %d", st)
	}
	if ev := recv.waitAccepted(safereset.EventFilterReloaded); ev.Data.Filter == nil || ev.Data.Filter.Elements == 0 || ev.Data.Client != "admin" {
		t.Errorf("breach.filter_reloaded data = %+v", ev.Data)
	}
	recv.check()
}

// TestEvents_Kill9AfterReset (real binary): killed with SIGKILL right
// after a reset answered 204, while the receiver is down, the binary still
// delivers password.changed after restart.
func TestEvents_Kill9AfterReset(t *testing.T) {
	dir := t.TempDir()
	var down sync.Mutex
	isDown := true
	recv := newHookReceiver(t, dir, func(int) bool { down.Lock(); defer down.Unlock(); return isDown })
	p := startBinary(t, dir, hookArgs(recv)...)
	p.addUser(alice, oldPW)
	key := p.apiKey("kill")
	if r := p.post(key, alice); r.Status != 202 {
		t.Fatalf("POST: %d", r.Status)
	}
	tok := p.waitToken(alice, 1)
	if r := p.patch(key, alice, strongPW, strongPW, tok); r.Status != 204 {
		t.Fatalf("PATCH: %d %v", r.Status, r.Codes())
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	if n := len(recv.acceptedOf(safereset.EventPasswordChanged)); n != 0 {
		t.Fatalf("accepted %d password.changed while down", n)
	}

	down.Lock()
	isDown = false
	down.Unlock()
	p2 := startBinary(t, dir, hookArgs(recv)...)
	ev := recv.waitAccepted(safereset.EventPasswordChanged)
	if ev.Data.Email != alice || ev.Data.Client != "apikey:kill" {
		t.Errorf("password.changed after restart: %+v", ev.Data)
	}
	recv.check()
	verifyWithNode(t, dir, recv)
	if code := p2.term(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestEvents_PermanentRefusalDropped: a receiver answering 410 gets the
// event once; it is dropped with a log line and counted, not retried.
func TestEvents_PermanentRefusalDropped(t *testing.T) {
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	s := startServer(t, "", "--webhook-url", gone.URL, "--mail-retry-base", "50ms", "--mail-retry-max", "200ms")
	if st := s.admin("POST", "/admin/v1/breach/reload", nil, nil); st != 200 {
		t.Fatalf("reload: %d", st)
	}
	waitFor(t, func() bool {
		return strings.HasSuffix(metricLine(t, s.Admin, `safereset_webhook_deliveries_total{event="breach.filter_reloaded",result="dropped"}`), " 1")
	}, "the dropped counter")
	if got := metricLine(t, s.Admin, `safereset_webhook_deliveries_total{event="breach.filter_reloaded",result="retry"}`); !strings.HasSuffix(got, " 0") {
		t.Errorf("retried a 410: %q", got)
	}
	if !strings.Contains(s.Log.String(), "webhook dropped: the receiver refused it") || !strings.Contains(s.Log.String(), "http 410") {
		t.Errorf("no drop log line:\n%s", s.Log.String())
	}
}

// verifyWithNode hands the binary's real deliveries to the npm
// standardwebhooks library (tools/webhook-verify): each verifies, and the
// first one with its body tampered with, or with a timestamp 10 minutes
// old, does not.
func verifyWithNode(t *testing.T, dataDir string, recv *hookReceiver) {
	t.Helper()
	if !webhooktest.Available(t) {
		return
	}
	recv.mu.Lock()
	ds := append([]webhooktest.Delivery(nil), recv.raw...)
	recv.mu.Unlock()
	if len(ds) == 0 {
		t.Fatal("no deliveries to verify")
	}
	var genuine []string
	for i := range ds {
		ds[i].Name = fmt.Sprintf("real-%d", i)
		genuine = append(genuine, ds[i].Name)
	}
	tampered := ds[0]
	tampered.Name, tampered.Body = "tampered", strings.Replace(tampered.Body, `"userId":`, `"userId":1`, 1)
	old := ds[0]
	old.Name, old.Headers = "old", maps.Clone(old.Headers)
	ts, _ := strconv.ParseInt(old.Headers["webhook-timestamp"], 10, 64)
	old.Headers["webhook-timestamp"] = strconv.FormatInt(ts-600, 10)
	ds = append(ds, tampered, old)
	secret, err := os.ReadFile(filepath.Join(dataDir, "webhook.secret"))
	if err != nil {
		t.Fatal(err)
	}
	webhooktest.CheckVerdicts(t, webhooktest.Verify(t, strings.TrimSpace(string(secret)), ds), genuine...)
}

// TestEvents_SIGHUPReload (real binary): a reload on SIGHUP is audited as
// the system's and raises breach.filter_reloaded.
func TestEvents_SIGHUPReload(t *testing.T) {
	dir := t.TempDir()
	recv := newHookReceiver(t, dir, nil)
	p := startBinary(t, dir, hookArgs(recv)...)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ev := recv.waitAccepted(safereset.EventFilterReloaded)
	if ev.Data.Client != safereset.ActorSystem || ev.Data.Filter == nil || ev.Data.Filter.Elements == 0 {
		t.Errorf("breach.filter_reloaded data = %+v", ev.Data)
	}
	_, entries, _ := auditPage(t, p.testServer, "")
	if len(entries) != 1 || entries[0].Action != safereset.AuditFilterReloaded || entries[0].Actor != safereset.ActorSystem {
		t.Errorf("audit after SIGHUP: %+v", entries)
	}
	recv.check()
	if code := p.term(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
