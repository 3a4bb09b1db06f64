package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/safereset/safereset"
)

// replicaReceiver is one application endpoint fed by several replicas. It
// verifies every request with the Standard Webhooks reference library
// under the secret secretOf returns (asked at the first request: for
// replicas, the one the first replica to start created), and records each
// attempt by webhook-id: how many arrived and when, and the event of the
// ones it accepted. stall, when set, runs before an attempt is answered
// and may hold it.
type replicaReceiver struct {
	t        *testing.T
	srv      *httptest.Server
	secretOf func() (string, error)
	stall    func(req *http.Request, ev safereset.Event)

	mu       sync.Mutex
	secret   string
	raw      map[string]int             // attempts per webhook-id
	times    map[string][]time.Time     // arrival of each attempt, by webhook-id
	accepted map[string]safereset.Event // by webhook-id
	bad      []string
	arrived  chan struct{}
}

// newReplicaReceiver returns a receiver for replicas sharing the database
// at dbURL.
func newReplicaReceiver(t *testing.T, dbURL string) *replicaReceiver {
	return newSecretReceiver(t, func() (string, error) { return sharedWebhookSecret(dbURL) })
}

// newSecretReceiver returns a receiver verifying with secretOf's secret.
func newSecretReceiver(t *testing.T, secretOf func() (string, error)) *replicaReceiver {
	r := &replicaReceiver{t: t, secretOf: secretOf, raw: map[string]int{}, times: map[string][]time.Time{},
		accepted: map[string]safereset.Event{}, arrived: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *replicaReceiver) URL() string { return r.srv.URL + "/hooks/replicas" }

func (r *replicaReceiver) serve(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(req.Body)
	defer func() {
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}()
	r.mu.Lock()
	if r.secret == "" {
		r.secret, _ = r.secretOf()
	}
	secret := r.secret
	r.mu.Unlock()
	var ev safereset.Event
	wh, err := standardwebhooks.NewWebhook(secret)
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	if err != nil {
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.raw[id]++
	r.times[id] = append(r.times[id], at)
	r.mu.Unlock()
	if r.stall != nil {
		r.stall(req, ev)
		if req.Context().Err() != nil {
			return // the sender is gone; it never learned of an answer
		}
	}
	r.mu.Lock()
	r.accepted[id] = ev
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// byRequest returns the accepted events by request id, and the webhook-ids
// accepted for each request id.
func (r *replicaReceiver) byRequest() (map[string]safereset.Event, map[string][]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs, ids := map[string]safereset.Event{}, map[string][]string{}
	for id, ev := range r.accepted {
		evs[ev.Data.RequestID] = ev
		ids[ev.Data.RequestID] = append(ids[ev.Data.RequestID], id)
	}
	return evs, ids
}

// waitRequests waits until an event for every request id in want was
// accepted. Deliveries come from the replicas' outbox workers.
func (r *replicaReceiver) waitRequests(want ...string) {
	r.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		evs, _ := r.byRequest()
		var missing []string
		for _, id := range want {
			if _, ok := evs[id]; !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		select {
		case <-r.arrived:
		case <-deadline:
			r.t.Fatalf("no event accepted within 60s for %v", missing)
		}
	}
}

// sharedWebhookSecret reads the signing secret the replicas share, the way
// the README tells an operator to hand it to the receiver.
func sharedWebhookSecret(url string) (string, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var s string
	err = conn.QueryRow(ctx, `SELECT 'whsec_' || encode(value, 'base64') FROM shared_keys WHERE name = 'webhook-secret'`).Scan(&s)
	return s, err
}

// outboxDepth counts what is left in the shared outbox. Once it is 0 no
// delivery is held or in flight anywhere: an entry is deleted only after
// its send succeeded.
func outboxDepth(t *testing.T, url string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// apiCall sends one public API request with a request id and returns the
// status, or an error; safe from any goroutine.
func apiCall(method, base, key, requestID string, body any) (int, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, base+"/api/v1/user/reset-password", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("X-Request-Id", requestID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// replicaToken waits for the one token mail to addr, written by whichever
// replica sent it.
func replicaToken(rs []*proc, addr string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range rs {
			if toks := replicaMailTokens(r.DataDir, addr); len(toks) > 0 {
				return toks[len(toks)-1], nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("no token mail for %s within 30s", addr)
}

// replicaMailTokens is outboxTokens without a *testing.T, for goroutines.
func replicaMailTokens(dataDir, addr string) []string {
	dir := filepath.Join(dataDir, "outbox")
	entries, _ := os.ReadDir(dir)
	var toks []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasSuffix(e.Name(), ".eml") || !bytes.Contains(b, []byte(addr)) {
			continue
		}
		if m := tokenRE.FindSubmatch(b); m != nil {
			toks = append(toks, string(m[1]))
		}
	}
	return toks
}

// driveReplicaResets runs, for each user at once, a token request on one replica
// and the reset with the mailed token on the next (round-robin), each
// with its own request id, and returns the request ids whose event must
// arrive: "<prefix>-req-i" (password.reset_requested) and
// "<prefix>-reset-i" (password.changed), i counted from first.
func driveReplicaResets(t *testing.T, rs []*proc, key, prefix string, users []string, first int) []string {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		want []string
	)
	for j, u := range users {
		i := first + j
		wg.Go(func() {
			reqID, resetID := fmt.Sprintf("%s-req-%d", prefix, i), fmt.Sprintf("%s-reset-%d", prefix, i)
			if st, err := apiCall("POST", rs[i%len(rs)].Base, key, reqID, map[string]string{"emailAddress": u}); err != nil || st != 202 {
				t.Errorf("POST %s: %d %v", u, st, err)
				return
			}
			tok, err := replicaToken(rs, u)
			if err != nil {
				t.Error(err)
				return
			}
			pw := strongPW + "-" + strconv.Itoa(i)
			body := map[string]string{"emailAddress": u, "password": pw, "passwordVerify": pw, "token": tok}
			if st, err := apiCall("PATCH", rs[(i+1)%len(rs)].Base, key, resetID, body); err != nil || st != 204 {
				t.Errorf("PATCH %s: %d %v", u, st, err)
				return
			}
			mu.Lock()
			want = append(want, reqID, resetID)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return want
}

// checkOnce checks that each request id in want got exactly one accepted
// webhook-id of the right type about the right user, that nothing else
// was accepted, and returns how many attempts each webhook-id took.
func checkOnce(t *testing.T, recv *replicaReceiver, want []string, email map[string]string) map[string]int {
	t.Helper()
	evs, ids := recv.byRequest()
	for _, rid := range want {
		ev := evs[rid]
		typ := safereset.EventResetRequested
		if strings.Contains(rid, "-reset-") {
			typ = safereset.EventPasswordChanged
		}
		if len(ids[rid]) != 1 || ev.Type != typ || ev.Data.Email != email[rid] || ev.Data.Client != "apikey:replicas" {
			t.Errorf("request %s: webhook-ids %v, event %+v; want one %s for %s", rid, ids[rid], ev, typ, email[rid])
		}
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.bad) > 0 {
		t.Errorf("deliveries that failed verification: %v", recv.bad)
	}
	if len(recv.accepted) != len(want) {
		t.Errorf("%d distinct events accepted, want %d (one per change)", len(recv.accepted), len(want))
	}
	return maps.Clone(recv.raw)
}

// replicaUsers adds n users through r and returns their addresses and the
// address each request id of driveReplicaResets is about.
func replicaUsers(r *proc, prefix string, n int) ([]string, map[string]string) {
	users, email := make([]string, n), map[string]string{}
	for i := range users {
		users[i] = fmt.Sprintf("%s%d@example.com", prefix, i)
		r.addUser(users[i], oldPW)
		email[fmt.Sprintf("%s-req-%d", prefix, i)] = users[i]
		email[fmt.Sprintf("%s-reset-%d", prefix, i)] = users[i]
	}
	return users, email
}

// replicaArgs are the flags of every replica in these tests: no rate
// limits in the way, one receiver.
func replicaArgs(url string, recv *replicaReceiver, extra ...string) []string {
	return append([]string{"--database-url", url, "--rate-ip", "0", "--rate-request-email", "0", "--rate-reset-email", "0",
		"--request-min-duration", "0", "--webhook-url", recv.URL()}, extra...)
}

// Two real-binary replicas on one PostgreSQL and one receiver: resets and
// token requests run round-robin on both at once, both replicas' workers
// compete for the shared outbox, and still every event arrives, verified,
// under exactly one webhook-id, in exactly one attempt.
func TestPostgres_TwoReplicasEachEventOnce(t *testing.T) {
	url := migratedDB(t)
	recv := newReplicaReceiver(t, url)
	args := replicaArgs(url, recv)
	rs := []*proc{startBinary(t, "", args...), startBinary(t, "", args...)}
	key := rs[0].apiKey("replicas")
	const n = 8
	users, email := replicaUsers(rs[1], "twice", n)
	want := driveReplicaResets(t, rs, key, "twice", users, 0)
	if len(want) != 2*n {
		t.Fatalf("%d changes made, want %d", len(want), 2*n)
	}
	recv.waitRequests(want...)
	waitFor(t, func() bool { return outboxDepth(t, url) == 0 }, "the shared outbox to drain")

	raw := checkOnce(t, recv, want, email)
	for id, c := range raw {
		if c != 1 {
			t.Errorf("webhook-id %s arrived %d times; without a kill each event is sent once", id, c)
		}
	}
}

// Two real-binary replicas: the receiver holds the first password.changed
// attempt unanswered; the replica sending it (found by the attempt's
// socket) gets SIGKILL mid-send. The other replica delivers that event
// once the killed one's lease has run out, under the same webhook-id: one
// duplicate attempt at most, and every other event, before and after the
// kill, exactly once.
func TestPostgres_KilledReplicaWebhookSentByOther(t *testing.T) {
	url := migratedDB(t)
	recv := newReplicaReceiver(t, url)
	held := make(chan int, 1) // the client port of the held attempt
	release := make(chan struct{})
	defer close(release)
	var once sync.Once
	recv.stall = func(req *http.Request, ev safereset.Event) {
		first := false
		if ev.Type == safereset.EventPasswordChanged {
			once.Do(func() { first = true })
		}
		if !first {
			return
		}
		_, port, _ := net.SplitHostPort(req.RemoteAddr)
		p, _ := strconv.Atoi(port)
		held <- p
		select {
		case <-req.Context().Done(): // the sender died
		case <-release:
		}
	}
	// Timeouts long enough that the holder is killed well inside its own
	// attempt, so the second attempt can only be the other replica's.
	args := replicaArgs(url, recv, "--smtp-timeout", "5s", "--webhook-timeout", "5s", "--mail-lease", "10s")
	rs := []*proc{startBinary(t, "", args...), startBinary(t, "", args...)}
	key := rs[0].apiKey("replicas")
	users, email := replicaUsers(rs[1], "kill", 3)

	// The first user's change, step by step, so that when its event is
	// held it is the only webhook in the outbox.
	if st, err := apiCall("POST", rs[0].Base, key, "kill-req-0", map[string]string{"emailAddress": users[0]}); err != nil || st != 202 {
		t.Fatalf("POST: %d %v", st, err)
	}
	tok, err := replicaToken(rs, users[0])
	if err != nil {
		t.Fatal(err)
	}
	recv.waitRequests("kill-req-0")
	body := map[string]string{"emailAddress": users[0], "password": strongPW, "passwordVerify": strongPW, "token": tok}
	if st, err := apiCall("PATCH", rs[1].Base, key, "kill-reset-0", body); err != nil || st != 204 {
		t.Fatalf("PATCH: %d %v", st, err)
	}
	var port int
	select {
	case port = <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("no password.changed attempt reached the receiver")
	}
	holder := socketOwner(t, port, rs)
	if holder < 0 {
		t.Fatalf("no replica owns the socket of the held attempt (client port %d)", port)
	}
	leaseEnd := heldLeaseEnd(t, url)
	rs[holder].cmd.Process.Kill()
	rs[holder].cmd.Wait()
	other := rs[1-holder]

	// The survivor carries on with new changes meanwhile.
	want := append([]string{"kill-req-0", "kill-reset-0"}, driveReplicaResets(t, []*proc{other}, key, "kill", users[1:], 1)...)
	recv.waitRequests(want...)
	waitFor(t, func() bool { return outboxDepth(t, url) == 0 }, "the shared outbox to drain")
	raw := checkOnce(t, recv, want, email)

	_, ids := recv.byRequest()
	heldID := ids["kill-reset-0"][0]
	dup := 0
	for id, c := range raw {
		switch {
		case id == heldID && c != 2:
			t.Errorf("the held event arrived %d times; want the killed attempt and one delivery", c)
		case id != heldID && c != 1:
			t.Errorf("webhook-id %s arrived %d times, want 1", id, c)
		}
		dup += c - 1
	}
	if dup > 1 {
		t.Errorf("%d duplicate attempts after one kill, want at most 1", dup)
	}
	recv.mu.Lock()
	times := recv.times[heldID]
	recv.mu.Unlock()
	if len(times) == 2 && times[1].Before(leaseEnd) {
		t.Errorf("the held event was sent again at %s, before the killed replica's lease ended at %s", times[1], leaseEnd)
	}
}

// heldLeaseEnd returns when the lease of the one claimed webhook in the
// outbox ends (a claim sets next_attempt to the lease's end).
func heldLeaseEnd(t *testing.T, url string) time.Time {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var (
		n   int
		end *time.Time
	)
	if err := conn.QueryRow(ctx, `SELECT count(*), max(next_attempt) FROM outbox WHERE kind = 'webhook' AND claim <> 0`).Scan(&n, &end); err != nil {
		t.Fatal(err)
	}
	if n != 1 || end == nil {
		t.Fatalf("%d claimed webhooks in the outbox while one is held, want 1", n)
	}
	return *end
}

// socketOwner returns the index in rs of the process holding the TCP
// connection whose local port is port, or -1. Linux only: it maps the
// port to a socket inode (/proc/net/tcp) and the inode to a process's
// open file (/proc/PID/fd).
func socketOwner(t *testing.T, port int, rs []*proc) int {
	t.Helper()
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 {
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		msg := fmt.Sprintf("SKIPPING: no /proc/net/tcp entry for port %d: this test needs Linux's /proc", port)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for i, r := range rs {
		dir := fmt.Sprintf("/proc/%d/fd", r.cmd.Process.Pid)
		fds, _ := os.ReadDir(dir)
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && inodes[l] {
				return i
			}
		}
	}
	return -1
}
