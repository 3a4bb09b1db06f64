package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/mail"
	"github.com/safereset/safereset/password"
	"github.com/safereset/safereset/server"
	"github.com/safereset/safereset/store"
)

// panickingChecker stands in for a breach checker with a bug.
type panickingChecker struct{}

func (panickingChecker) Check(string, []string) (safereset.Verdict, error) {
	panic("breach: index out of range [secret-cause]")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func deps(t *testing.T, checker safereset.BreachChecker, log io.Writer) (server.Deps, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if checker == nil {
		f, err := breach.OpenDefault()
		if err != nil {
			t.Fatal(err)
		}
		c := breach.NewChecker(f, breach.CheckerOptions{MinScore: 3})
		t.Cleanup(func() { c.Close() })
		checker = c
	}
	composer, _ := mail.NewComposer(mail.ComposerConfig{})
	sender, _ := mail.NewDirSender(filepath.Join(dir, "outbox"))
	hasher, _ := password.NewHasher(password.Params{Memory: 8192, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2, nil)
	key, id, hash, _ := server.NewAPIKey()
	if err := db.CreateAPIKey(context.Background(), safereset.APIKey{ID: id, Name: "t", Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return server.Deps{Store: db, Breach: checker, Composer: composer, Sender: sender, Hasher: hasher,
		Logger: slog.New(slog.NewJSONHandler(log, nil))}, key
}

// TestPanic_BecomesER999: a panic in a handler is answered ER999 with the
// request id; the cause goes to the log, never to the client.
func TestPanic_BecomesER999(t *testing.T) {
	var log lockedBuffer
	d, key := deps(t, panickingChecker{}, &log)
	app, err := server.NewPublic(d)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"emailAddress":"a@example.com","password":"kDWPe4qf$&mgM26&8hX","passwordVerify":"kDWPe4qf$&mgM26&8hX","token":"` + strings.Repeat("a", 32) + `"}`
	req := httptest.NewRequest("PATCH", "/api/v1/user/reset-password", strings.NewReader(body))
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("X-Request-Id", "panic-req-1")
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || !strings.Contains(string(b), `"ER999"`) || strings.Contains(string(b), "secret-cause") {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	if resp.Header.Get("X-Request-Id") != "panic-req-1" {
		t.Fatal("request id missing on the ER999 answer")
	}
	l := log.String()
	if !strings.Contains(l, "secret-cause") || !strings.Contains(l, "panic-req-1") || !strings.Contains(l, `"status":500`) {
		t.Fatalf("cause or request id not logged:\n%s", l)
	}
	// The server keeps serving.
	req = httptest.NewRequest("POST", "/api/v1/user/reset-password", strings.NewReader(`{}`))
	req.Header.Set("X-Api-Key", key)
	if resp, _ := app.Test(req, -1); resp.StatusCode != 400 {
		t.Fatalf("after the panic: %d", resp.StatusCode)
	}
}

// TestReadyz_NotReady: 503 with the reasons in JSON while a part is down.
func TestReadyz_NotReady(t *testing.T) {
	d, _ := deps(t, nil, io.Discard)
	var reasons []string
	ops, err := server.NewOps(d, server.Ops{
		AdminToken: strings.Repeat("a", 40),
		Metrics:    http.NotFoundHandler(),
		Ready: []server.Pinger{server.PingerFunc(func(context.Context) error {
			if len(reasons) > 0 {
				return errors.New(reasons[0])
			}
			return nil
		})},
		Breach: fixedFilter{safereset.FilterInfo{Elements: 7}},
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, map[string]any) {
		resp, err := ops.Test(httptest.NewRequest("GET", "/readyz", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if st, m := get(); st != 200 || m["status"] != "ready" {
		t.Fatalf("ready: %d %v", st, m)
	}
	reasons = []string{"outbox worker not running"}
	st, m := get()
	if st != 503 || m["status"] != "not ready" || !strings.Contains(toJSON(m["reasons"]), "outbox worker") {
		t.Fatalf("not ready: %d %v", st, m)
	}
	// The admin API refuses a wrong token, in constant time, with 401.
	req := httptest.NewRequest("GET", "/admin/v1/apikeys", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("b", 40))
	if resp, _ := ops.Test(req, -1); resp.StatusCode != 401 {
		t.Fatalf("wrong admin token: %d", resp.StatusCode)
	}
}

// fixedFilter is a breach filter that never changes.
type fixedFilter struct{ info safereset.FilterInfo }

func (f fixedFilter) Reload(string) error        { return nil }
func (f fixedFilter) Info() safereset.FilterInfo { return f.info }

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestUnknownRoutes: bare statuses, no envelope, no cause.
func TestUnknownRoutes(t *testing.T) {
	d, _ := deps(t, nil, io.Discard)
	app, err := server.NewPublic(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/nope", 404},
		{"GET", "/api/v1/user/reset-password", 405},
		{"PATCH", "/API/v1/user/reset-password", 404},
	} {
		resp, err := app.Test(httptest.NewRequest(tc.method, tc.path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.want || len(b) != 0 || resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, resp.StatusCode, b)
		}
	}
}

// TestReadyz_CauseOnlyInLog: a *NotReady shows only its fixed reason; the
// driver's text (here an address and a user name) goes to the log once.
func TestReadyz_CauseOnlyInLog(t *testing.T) {
	var log bytes.Buffer
	d, _ := deps(t, nil, &log)
	cause := errors.New("failed to connect to user=ops-secret-name host=10.9.8.7")
	ops, err := server.NewOps(d, server.Ops{
		AdminToken: strings.Repeat("a", 40),
		Metrics:    http.NotFoundHandler(),
		Ready: []server.Pinger{server.PingerFunc(func(context.Context) error {
			return fmt.Errorf("ping: %w", &server.NotReady{Reason: "database unreachable", Err: cause})
		})},
		Breach: fixedFilter{safereset.FilterInfo{Elements: 7}},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ops.Test(httptest.NewRequest("GET", "/readyz", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"database unreachable"`) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	for _, leak := range []string{"ops-secret-name", "10.9.8.7", "ping:"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("readyz answer carries the cause's %q: %s", leak, body)
		}
	}
	if !strings.Contains(log.String(), "ops-secret-name") {
		t.Errorf("the cause was not logged:\n%s", log.String())
	}
}
