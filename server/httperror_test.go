package server_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/jwtauth"
	"github.com/safereset/safereset/server"
)

// planted is a cause string that must reach the log and never a client.
const planted = "PLANTED-CAUSE-7f3a /var/lib/secret.db: disk on fire"

var errPlanted = errors.New(planted)

// failingStore is a real store whose methods named in fail return the
// planted cause instead of running.
type failingStore struct {
	safereset.Store
	fail map[string]bool
}

func (s failingStore) err(name string) error {
	if s.fail["*"] || s.fail[name] {
		return fmt.Errorf("store: %s: %w", name, errPlanted)
	}
	return nil
}

func (s failingStore) CreateUser(ctx context.Context, u safereset.User, fx ...safereset.EffectsFunc) (safereset.User, error) {
	if err := s.err("CreateUser"); err != nil {
		return u, err
	}
	return s.Store.CreateUser(ctx, u, fx...)
}

func (s failingStore) UserByEmail(ctx context.Context, k string) (safereset.User, error) {
	if err := s.err("UserByEmail"); err != nil {
		return safereset.User{}, err
	}
	return s.Store.UserByEmail(ctx, k)
}

func (s failingStore) DeleteUser(ctx context.Context, k string, fx ...safereset.EffectsFunc) error {
	if err := s.err("DeleteUser"); err != nil {
		return err
	}
	return s.Store.DeleteUser(ctx, k, fx...)
}

func (s failingStore) RequestReset(ctx context.Context, k string, tok safereset.ResetToken, n int, compose func(safereset.User) (safereset.Message, time.Time, error), fx ...safereset.EffectsFunc) (bool, error) {
	if err := s.err("RequestReset"); err != nil {
		return false, err
	}
	return s.Store.RequestReset(ctx, k, tok, n, compose, fx...)
}

func (s failingStore) CheckToken(ctx context.Context, k string, h [32]byte, now time.Time) error {
	if err := s.err("CheckToken"); err != nil {
		return err
	}
	return s.Store.CheckToken(ctx, k, h, now)
}

func (s failingStore) CreateAPIKey(ctx context.Context, k safereset.APIKey, fx ...safereset.Effects) error {
	if err := s.err("CreateAPIKey"); err != nil {
		return err
	}
	return s.Store.CreateAPIKey(ctx, k, fx...)
}

func (s failingStore) APIKeyByHash(ctx context.Context, h [32]byte) (safereset.APIKey, error) {
	if err := s.err("APIKeyByHash"); err != nil {
		return safereset.APIKey{}, err
	}
	return s.Store.APIKeyByHash(ctx, h)
}

func (s failingStore) ListAPIKeys(ctx context.Context) ([]safereset.APIKey, error) {
	if err := s.err("ListAPIKeys"); err != nil {
		return nil, err
	}
	return s.Store.ListAPIKeys(ctx)
}

func (s failingStore) RevokeAPIKey(ctx context.Context, id string, at time.Time, fx ...safereset.Effects) error {
	if err := s.err("RevokeAPIKey"); err != nil {
		return err
	}
	return s.Store.RevokeAPIKey(ctx, id, at, fx...)
}

// failingChecker fails every breach check with the planted cause.
type failingChecker struct{}

func (failingChecker) Check(string, []string) (safereset.Verdict, error) {
	return safereset.Verdict{}, fmt.Errorf("breach: read filter: %w", errPlanted)
}

// failingSender fails every delivery with the planted cause.
type failingSender struct{}

func (failingSender) Send(context.Context, safereset.Message) error {
	return fmt.Errorf("smtp: 554 %w", errPlanted)
}

// failingFilter is a breach filter whose reload always fails.
type failingFilter struct{}

func (failingFilter) Reload(string) error        { return fmt.Errorf("breach: open: %w", errPlanted) }
func (failingFilter) Info() safereset.FilterInfo { return safereset.FilterInfo{Elements: 1} }

type tester interface {
	Test(*http.Request, ...int) (*http.Response, error)
}

// exchange is one request and what the test expects of its answer.
type exchange struct {
	name, method, path, body string
	header                   map[string]string
	wantStatus               int
	wantBody                 string // exact body when set
}

// checkExchanges sends each request with its own request id and checks
// the status, that the planted cause is in no body but is logged exactly
// once with that request id.
func checkExchanges(t *testing.T, app tester, log *lockedBuffer, xs []exchange) {
	t.Helper()
	for i, x := range xs {
		id := fmt.Sprintf("planted-%d", i)
		req := httptest.NewRequest(x.method, x.path, strings.NewReader(x.body))
		req.Header.Set("X-Request-Id", id)
		for k, v := range x.header {
			req.Header.Set(k, v)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatalf("%s: %v", x.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "PLANTED") || strings.Contains(string(b), "disk on fire") {
			t.Errorf("%s: the cause reached the body: %s", x.name, b)
		}
		for k, vs := range resp.Header {
			if strings.Contains(strings.Join(vs, " "), "PLANTED") {
				t.Errorf("%s: the cause reached header %s", x.name, k)
			}
		}
		if resp.StatusCode != x.wantStatus {
			t.Errorf("%s: status %d, want %d (%s)", x.name, resp.StatusCode, x.wantStatus, b)
		}
		if x.wantBody != "" && string(b) != x.wantBody {
			t.Errorf("%s: body %s, want %s", x.name, b, x.wantBody)
		}
		n := 0
		for _, line := range strings.Split(log.String(), "\n") {
			if strings.Contains(line, `"`+id+`"`) && strings.Contains(line, "PLANTED") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: cause logged %d times with request id %s, want once:\n%s", x.name, n, id, log.String())
		}
	}
}

// TestErrorPath_CauseNeverInBody plants a cause in every dependency a
// route can fail in and checks that each answer is the documented one,
// the cause is logged once with the request id, and no body carries it.
func TestErrorPath_CauseNeverInBody(t *testing.T) {
	const (
		validToken = "0123456789abcdef0123456789abcdef"
		strong     = "kDWPe4qf$&mgM26&8hX"
	)
	patch := `{"emailAddress":"a@example.com","password":"` + strong + `","passwordVerify":"` + strong + `","token":"` + validToken + `"}`

	t.Run("Public", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			checker safereset.BreachChecker
			fail    map[string]bool
			x       exchange
		}{
			{"RequestResetStore", nil, map[string]bool{"RequestReset": true},
				exchange{method: "POST", body: `{"emailAddress":"a@example.com"}`, wantStatus: 503}},
			{"CheckTokenStore", nil, map[string]bool{"CheckToken": true},
				exchange{method: "PATCH", body: patch, wantStatus: 500}},
			// SPEC §10: an unreachable database answers a token request
			// ER354 (503), a reset ER999.
			{"APIKeyLookup", nil, map[string]bool{"APIKeyByHash": true},
				exchange{method: "POST", body: `{"emailAddress":"a@example.com"}`, wantStatus: 503}},
			{"APIKeyLookupReset", nil, map[string]bool{"APIKeyByHash": true},
				exchange{method: "PATCH", body: patch, wantStatus: 500}},
			{"BreachCheck", failingChecker{}, nil,
				exchange{method: "PATCH", body: patch, wantStatus: 500}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var log lockedBuffer
				d, key := deps(t, tc.checker, &log)
				d.Store = failingStore{Store: d.Store, fail: tc.fail}
				app, err := server.NewPublic(d)
				if err != nil {
					t.Fatal(err)
				}
				x := tc.x
				x.name, x.path, x.header = tc.name, "/api/v1/user/reset-password", map[string]string{"X-Api-Key": key}
				checkExchanges(t, app, &log, []exchange{x})
			})
		}
	})

	t.Run("ConfirmationMail", func(t *testing.T) {
		var log lockedBuffer
		d, key := deps(t, nil, &log)
		ctx := context.Background()
		if _, err := d.Store.CreateUser(ctx, safereset.User{Email: "a@example.com", PasswordHash: "$2a$10$abcdefghijklmnopqrstuuJ5cZfv0bR3wkVvX0a1zqg7dJXPZ6h5K", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tok := safereset.ResetToken{Hash: sha256.Sum256([]byte(validToken)), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if _, err := d.Store.RequestReset(ctx, "a@example.com", tok, 3, func(u safereset.User) (safereset.Message, time.Time, error) {
			return safereset.Message{To: u.Email, Subject: "t", Text: "t"}, tok.ExpiresAt, nil
		}); err != nil {
			t.Fatal(err)
		}
		d.Sender = failingSender{}
		app, err := server.NewPublic(d)
		if err != nil {
			t.Fatal(err)
		}
		checkExchanges(t, app, &log, []exchange{{name: "ER355", method: "PATCH", path: "/api/v1/user/reset-password",
			body: patch, header: map[string]string{"X-Api-Key": key}, wantStatus: 502}})
	})

	t.Run("Admin", func(t *testing.T) {
		var log lockedBuffer
		d, _ := deps(t, nil, &log)
		d.Store = failingStore{Store: d.Store, fail: map[string]bool{"*": true}}
		admin := strings.Repeat("a", 40)
		issueErr := errPlanted
		ops, err := server.NewOps(d, server.Ops{
			AdminToken: admin,
			Metrics:    http.NotFoundHandler(),
			Breach:     failingFilter{},
			IssueJWT:   func(string, time.Duration) (string, error) { return "", issueErr },
		})
		if err != nil {
			t.Fatal(err)
		}
		auth := map[string]string{"Authorization": "Bearer " + admin}
		internal := func(i int) string {
			return fmt.Sprintf(`{"error":"internal error; see the server log (request id planted-%d)"}`, i)
		}
		xs := []exchange{
			{name: "UserCreate", method: "POST", path: "/admin/v1/users", body: `{"emailAddress":"a@example.com","passwordHash":"$2a$10$abcdefghijklmnopqrstuuJ5cZfv0bR3wkVvX0a1zqg7dJXPZ6h5K"}`, wantStatus: 500},
			{name: "UserImport", method: "POST", path: "/admin/v1/users/import", body: `{"emailAddress":"a@example.com","passwordHash":"$2a$10$abcdefghijklmnopqrstuuJ5cZfv0bR3wkVvX0a1zqg7dJXPZ6h5K"}`, wantStatus: 500},
			{name: "UserVerify", method: "POST", path: "/admin/v1/users/verify", body: `{"emailAddress":"a@example.com","password":"x"}`, wantStatus: 500},
			{name: "UserDelete", method: "POST", path: "/admin/v1/users/delete", body: `{"emailAddress":"a@example.com"}`, wantStatus: 500},
			{name: "APIKeyCreate", method: "POST", path: "/admin/v1/apikeys", body: `{"name":"shop"}`, wantStatus: 500},
			{name: "APIKeyList", method: "GET", path: "/admin/v1/apikeys", wantStatus: 500},
			{name: "APIKeyRevoke", method: "DELETE", path: "/admin/v1/apikeys/k_abc", wantStatus: 500},
			{name: "JWTIssue", method: "POST", path: "/admin/v1/jwt", body: `{"subject":"shop"}`, wantStatus: 500},
			{name: "BreachReload", method: "POST", path: "/admin/v1/breach/reload", body: `{"path":"/x"}`, wantStatus: 422,
				wantBody: `{"error":"reload failed; the old filter stays loaded; see the server log (request id planted-8)"}`},
		}
		for i := range xs {
			xs[i].header = auth
			if xs[i].wantBody == "" {
				xs[i].wantBody = internal(i)
			}
		}
		checkExchanges(t, ops, &log, xs)

		// A documented refusal wrapped around a cause answers its fixed
		// message; the cause is not logged as a failure of the service.
		for _, tc := range []struct {
			sentinel error
			want     string
		}{
			{jwtauth.ErrInvalidTTL, `{"error":"ttl must be between 1m and the server's --jwt-max-lifetime (at most 720h)"}`},
			{jwtauth.ErrInvalidSubject, `{"error":"subject must be 1 to 128 printable characters without leading or trailing spaces"}`},
			{jwtauth.ErrIssueDisabled, `{"error":"JWT issuing is off: HS256 is not among --jwt-algorithms"}`},
		} {
			issueErr = fmt.Errorf("%w: %s", tc.sentinel, planted)
			req := httptest.NewRequest("POST", "/admin/v1/jwt", strings.NewReader(`{"subject":"shop"}`))
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := ops.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || string(b) != tc.want {
				t.Errorf("%v: %d %s, want 400 %s", tc.sentinel, resp.StatusCode, b, tc.want)
			}
		}
	})
}
