package server_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/server"
)

func tokenOf(c byte) string { return strings.Repeat(string(c), 40) }

// TestAdminTokens_Overlap: after Set the new token works at once, the old
// one only within the overlap, and anything older not at all.
func TestAdminTokens_Overlap(t *testing.T) {
	clock := testclock.New(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	a, err := server.NewAdminTokens(tokenOf('a'), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Valid(tokenOf('a')) || a.Valid(tokenOf('b')) || a.Valid("") {
		t.Fatal("initial token set wrong")
	}
	a.Set(tokenOf('b'), 10*time.Minute)
	if !a.Valid(tokenOf('a')) || !a.Valid(tokenOf('b')) {
		t.Fatal("old or new token refused within the overlap")
	}
	clock.Advance(10*time.Minute - time.Second)
	if !a.Valid(tokenOf('a')) {
		t.Fatal("old token refused before the overlap ended")
	}
	clock.Advance(time.Second)
	if a.Valid(tokenOf('a')) || !a.Valid(tokenOf('b')) {
		t.Fatal("old token accepted once the overlap ended")
	}

	a.Set(tokenOf('c'), time.Hour)
	a.Set(tokenOf('d'), time.Hour)
	if a.Valid(tokenOf('b')) || !a.Valid(tokenOf('c')) || !a.Valid(tokenOf('d')) {
		t.Fatal("only the token just replaced may overlap")
	}
	a.Set(tokenOf('e'), 0)
	if a.Valid(tokenOf('d')) || !a.Valid(tokenOf('e')) {
		t.Fatal("overlap 0 must refuse the old token at once")
	}
	// Setting the current token again (a SIGHUP with an unchanged file)
	// must not end the overlap of a rotation just done.
	a.Set(tokenOf('f'), time.Hour)
	a.Set(tokenOf('f'), 0)
	if !a.Valid(tokenOf('e')) {
		t.Fatal("re-setting the current token ended the overlap")
	}
	if err := a.Set("short", 0); err == nil || !a.Valid(tokenOf('f')) {
		t.Fatal("a short token was taken")
	}
}

// TestAdminTokens_RotateFailureKeepsToken: when persisting fails, the
// token in use stays and the failure is returned.
func TestAdminTokens_RotateFailureKeepsToken(t *testing.T) {
	a, _ := server.NewAdminTokens(tokenOf('a'), nil)
	boom := errors.New("disk full")
	if _, _, err := a.Rotate(func() (string, error) { return "", boom }, 0); !errors.Is(err, boom) {
		t.Fatalf("Rotate: %v", err)
	}
	if !a.Valid(tokenOf('a')) {
		t.Fatal("failed rotation dropped the token")
	}
}

// TestAdminTokens_ConcurrentRotate: rotations racing each other end with
// exactly the last persisted token current (run with -race).
func TestAdminTokens_ConcurrentRotate(t *testing.T) {
	a, _ := server.NewAdminTokens(tokenOf('a'), nil)
	var mu sync.Mutex
	var persisted string
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 8 {
		wg.Go(func() {
			<-start
			a.Rotate(func() (string, error) {
				mu.Lock()
				defer mu.Unlock()
				persisted = tokenOf(byte('k' + i))
				return persisted, nil
			}, 0)
		})
		wg.Go(func() { <-start; a.Valid(tokenOf('a')) })
	}
	close(start)
	wg.Wait()
	for i := range 8 {
		tok := tokenOf(byte('k' + i))
		if a.Valid(tok) != (tok == persisted) {
			t.Fatalf("token %d valid=%v, persisted %q", i, a.Valid(tok), persisted[:1])
		}
	}
}

// TestOps_AdminTokenRotate drives POST /admin/v1/admin-token/rotate: the
// caller's token authenticates, the answer names the new token, the body
// is checked, and a source the operator owns answers 409.
func TestOps_AdminTokenRotate(t *testing.T) {
	d, _ := deps(t, nil, io.Discard)
	tokens, _ := server.NewAdminTokens(tokenOf('a'), nil)
	next := tokenOf('n')
	ops, err := server.NewOps(d, server.Ops{
		AdminTokens:      tokens,
		RotateAdminToken: func() (string, error) { return next, nil },
		Metrics:          http.NotFoundHandler(),
		Breach:           fixedFilter{},
	})
	if err != nil {
		t.Fatal(err)
	}
	call := func(token, body string) (int, string) {
		req := httptest.NewRequest("POST", "/admin/v1/admin-token/rotate", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := ops.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = io.Copy(b, resp.Body)
		return resp.StatusCode, b.String()
	}
	for _, body := range []string{`{"overlap":"-1s"}`, `{"overlap":"25h"}`, `{"overlap":"soon"}`, `{"overlap":5}`, `[]`} {
		if code, got := call(tokenOf('a'), body); code != 400 || strings.Contains(got, next) {
			t.Errorf("%s: %d %s", body, code, got)
		}
	}
	if !tokens.Valid(tokenOf('a')) || tokens.Valid(next) {
		t.Fatal("a refused request rotated the token")
	}
	if code, _ := call(tokenOf('x'), ``); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	code, got := call(tokenOf('a'), `{"overlap":"1m"}`)
	if code != 200 || !strings.Contains(got, `"token":"`+next+`"`) || !strings.Contains(got, `"previousValidUntil":"`) {
		t.Fatalf("rotate: %d %s", code, got)
	}
	if !tokens.Valid(next) || !tokens.Valid(tokenOf('a')) {
		t.Fatal("after rotate with overlap both tokens must work")
	}

	fixed, _ := server.NewOps(d, server.Ops{AdminToken: tokenOf('a'), Metrics: http.NotFoundHandler(), Breach: fixedFilter{}})
	req := httptest.NewRequest("POST", "/admin/v1/admin-token/rotate", nil)
	req.Header.Set("Authorization", "Bearer "+tokenOf('a'))
	resp, err := fixed.Test(req, -1)
	if err != nil || resp.StatusCode != 409 {
		t.Fatalf("fixed source: %v %v", resp.StatusCode, err)
	}
}
