package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/freeport"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/safereset/safereset/server"
)

// syncBuffer is a bytes.Buffer safe for the server's log writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is the real `safereset serve` running in-process on free ports.
type testServer struct {
	t       *testing.T
	Base    string // public API
	Admin   string // ops listener
	DataDir string
	Token   string // admin token
	Log     *syncBuffer
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// fastArgs keep argon2id cheap in tests; the code path is the same. They
// also write each log line at once, so a test that reads the log while the
// server runs (a scan for secrets, above all) sees every line; the batched
// default has its own tests (logbuf_test.go).
var fastArgs = []string{"--argon2-memory", "8192", "--argon2-time", "1", "--log-format", "json", "--log-flush", "0"}

// startServer runs `safereset serve` with a temp data dir (or dataDir when
// not empty) and extra flags, and waits until /readyz answers 200.
func startServer(t *testing.T, dataDir string, extra ...string) *testServer {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	pub, ops := freePort(t), freePort(t)
	args := append([]string{"safereset", "serve", "--addr", pub, "--admin-addr", ops, "--data-dir", dataDir}, fastArgs...)
	args = append(args, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{t: t, Base: "http://" + pub, Admin: "http://" + ops, DataDir: dataDir, Log: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	getenv := func(string) string { return "" }
	go func() { s.done <- run(ctx, args, getenv, strings.NewReader(""), io.Discard, s.Log) }()
	t.Cleanup(s.Stop)

	// Wait for the listeners: the server is another goroutine starting up,
	// so poll its health endpoint with a deadline.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.stopped = true
			t.Fatalf("server exited during start: %v\nlog:\n%s", err, s.Log.String())
		default:
		}
		resp, err := http.Get(s.Admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 30s\nlog:\n%s", s.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s.Token = strings.TrimSpace(string(tok))
	return s
}

// Stop shuts the server down as SIGTERM would and checks it exits cleanly.
func (s *testServer) Stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("server exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		s.t.Errorf("server did not stop within 60s")
	}
}

// admin calls the admin API and decodes the JSON answer into out.
func (s *testServer) admin(method, path string, in, out any) int {
	s.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.Admin+path, body)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func (s *testServer) addUser(email, pw string) {
	s.t.Helper()
	if st := s.admin("POST", "/admin/v1/users", map[string]string{"emailAddress": email, "password": pw}, nil); st != http.StatusCreated {
		s.t.Fatalf("create user %s: status %d", email, st)
	}
}

func (s *testServer) apiKey(name string) string {
	s.t.Helper()
	var out struct{ Key string }
	if st := s.admin("POST", "/admin/v1/apikeys", map[string]string{"name": name}, &out); st != http.StatusCreated {
		s.t.Fatalf("create api key: status %d", st)
	}
	return out.Key
}

func (s *testServer) verify(email, pw string) bool {
	s.t.Helper()
	var out struct{ Match bool }
	if st := s.admin("POST", "/admin/v1/users/verify", map[string]string{"emailAddress": email, "password": pw}, &out); st != 200 {
		s.t.Fatalf("verify: status %d", st)
	}
	return out.Match
}

// response is what a test looks at in an answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Codes returns the sorted codes of an error envelope.
func (r response) Codes() []string {
	var env struct {
		Errors map[string]struct{ Code, Message, Solution string }
	}
	if len(r.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Body, &env); err != nil {
		return []string{"<not an envelope: " + string(r.Body) + ">"}
	}
	var cs []string
	for k := range env.Errors {
		cs = append(cs, k)
	}
	sort.Strings(cs)
	return cs
}

// do sends a request to the public API with the given headers, checks the
// answer against the OpenAPI document, and returns it.
func (s *testServer) do(method, path string, headers map[string]string, body string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.Base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{resp.StatusCode, resp.Header, b}
	checkOpenAPI(s.t, req, r)
	return r
}

func (s *testServer) post(key, email string) response {
	s.t.Helper()
	b, _ := json.Marshal(map[string]string{"emailAddress": email})
	return s.do("POST", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key}, string(b))
}

func (s *testServer) patch(key, email, pw, verify, token string) response {
	s.t.Helper()
	b, _ := json.Marshal(map[string]string{"emailAddress": email, "password": pw, "passwordVerify": verify, "token": token})
	return s.do("PATCH", "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key}, string(b))
}

// tokenRE finds the reset token in a mail by its link; the lock link
// ("/reset/not-me?token=") is not a reset token.
var tokenRE = regexp.MustCompile(`/reset\?token=([0-9a-f]{32})`)

// outboxTokens returns the tokens in the .eml files mailed to addr, oldest
// first by file name.
func (s *testServer) outboxTokens(addr string) []string {
	s.t.Helper()
	dir := filepath.Join(s.DataDir, "outbox")
	entries, _ := os.ReadDir(dir)
	var toks []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			s.t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("To: "+addr)) && !bytes.Contains(b, []byte("To: <"+addr+">")) {
			continue
		}
		if m := tokenRE.FindSubmatch(b); m != nil {
			toks = append(toks, string(m[1]))
		}
	}
	return toks
}

// waitToken waits until the outbox worker has written a token mail to addr
// and returns the newest token. The worker is another goroutine; this waits
// for its effect with a deadline.
func (s *testServer) waitToken(addr string, n int) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if toks := s.outboxTokens(addr); len(toks) >= n {
			return toks[len(toks)-1]
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no token mail #%d for %s within 20s; log:\n%s", n, addr, s.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	oaOnce   sync.Once
	oaRouter routers.Router
	oaErr    error
)

// checkOpenAPI validates a real response against the served OpenAPI document.
func checkOpenAPI(t *testing.T, req *http.Request, r response) {
	t.Helper()
	oaOnce.Do(func() {
		doc, err := server.OpenAPI()
		if err != nil {
			oaErr = err
			return
		}
		doc.Servers = nil // match any host
		oaRouter, oaErr = legacy.NewRouter(doc)
	})
	if oaErr != nil {
		t.Fatal(oaErr)
	}
	route, params, err := oaRouter.FindRoute(req)
	if err != nil {
		if strings.HasPrefix(req.URL.Path, "/api/v1/") {
			t.Errorf("%s %s not found in the OpenAPI document: %v", req.Method, req.URL.Path, err)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, ExcludeRequestBody: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.Status, Header: r.Header,
		Body: io.NopCloser(bytes.NewReader(r.Body)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s -> %d does not match the OpenAPI document: %v", req.Method, req.URL.Path, r.Status, oneLineErr(err))
	}
}

func oneLineErr(err error) string { return strings.ReplaceAll(fmt.Sprint(err), "\n", " | ") }

// waitFor waits, with a deadline, for an effect of another process or
// goroutine (a signal handled, a mail delivered).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// concurrentPatches sends one PATCH per body, all released at once, and
// returns their statuses in order.
func concurrentPatches(t *testing.T, base, key string, bodies []map[string]string) []int {
	t.Helper()
	start := make(chan struct{})
	statuses := make([]int, len(bodies))
	var wg sync.WaitGroup
	for i, body := range bodies {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("PATCH", base+"/api/v1/user/reset-password", bytes.NewReader(b))
		req.Header.Set("X-Api-Key", key)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}(i)
	}
	close(start)
	wg.Wait()
	return statuses
}
