package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/safereset/safereset"
)

// apiKeyID returns the id of the key named name from the admin list.
func apiKeyID(t *testing.T, s *testServer, name string) string {
	t.Helper()
	var list []struct{ ID, Name string }
	if st := s.admin("GET", "/admin/v1/apikeys", nil, &list); st != 200 {
		t.Fatalf("list api keys: %d", st)
	}
	for _, k := range list {
		if k.Name == name {
			return k.ID
		}
	}
	t.Fatalf("no api key named %q in %v", name, list)
	return ""
}

// TestAPIKeyRevokeSeenAtOnce: the store remembers decoded keys, so this
// checks through the real server that a key in steady use is refused by
// the very next request after its revocation, and that a rotation (new key
// created, old one revoked) takes effect at once for both keys.
func TestAPIKeyRevokeSeenAtOnce(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0", "--rate-ip", "0")
	// A validation error: it passes auth, so it shows the key is accepted.
	accepted := func(key string) bool {
		t.Helper()
		r := s.patch(key, "jane@example.com", "short", "short", strings.Repeat("a", 32))
		switch {
		case r.Status == 400:
			return true
		case r.Status == 401 && sameCodes(r.Codes(), safereset.ER805):
			return false
		}
		t.Fatalf("unexpected answer %d %v", r.Status, r.Codes())
		return false
	}

	old := s.apiKey("memo-old")
	for i := range 5 {
		if !accepted(old) {
			t.Fatalf("request %d: fresh key refused", i)
		}
	}
	// Rotation: the new key works from its first request; the old one
	// still works until it is revoked, and not one request after.
	next := s.apiKey("memo-next")
	if !accepted(next) || !accepted(old) {
		t.Fatal("a key stopped working when another was created")
	}
	if st := s.admin("DELETE", "/admin/v1/apikeys/"+apiKeyID(t, s, "memo-old"), nil, nil); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	if accepted(old) {
		t.Fatal("the request right after the revoke was accepted")
	}
	if !accepted(next) {
		t.Fatal("revoking the old key refused the new one")
	}
	if accepted(old) {
		t.Fatal("a revoked key was accepted later")
	}
}

// TestAPIKeyRevokeUnderLoad: concurrent clients use a key while it is
// revoked. Every request sent after the revoke answered is refused with
// ER805; the ones before get the validation answer or ER805, never an
// error status.
func TestAPIKeyRevokeUnderLoad(t *testing.T) {
	s := startServer(t, "", "--rate-reset-email", "0", "--rate-ip", "0")
	key := s.apiKey("memo-load")
	id := apiKeyID(t, s, "memo-load")
	body := `{"emailAddress":"jane@example.com","password":"short","passwordVerify":"short","token":"` + strings.Repeat("a", 32) + `"}`
	send := func(c *http.Client) (int, string, error) {
		req, err := http.NewRequest("PATCH", s.Base+"/api/v1/user/reset-password", strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", key)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	const clients = 8
	var revoked atomic.Bool
	var before atomic.Int64
	started := make(chan struct{}, clients)
	afterCh := make(chan struct{}, 1<<16)
	stop := make(chan struct{})
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			first := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				sentAfter := revoked.Load()
				st, b, err := send(c)
				if first {
					started <- struct{}{}
					first = false
				}
				refused := st == 401 && strings.Contains(b, `"ER805"`)
				switch {
				case err != nil:
					errs <- err
					return
				case sentAfter && !refused:
					errs <- fmt.Errorf("request sent after the revoke answered %d %.200s", st, b)
					return
				case !sentAfter && st != 400 && !refused:
					errs <- fmt.Errorf("request during the revoke answered %d %.200s", st, b)
					return
				case sentAfter:
					select {
					case afterCh <- struct{}{}:
					default:
					}
				case st == 400:
					before.Add(1)
				}
			}
		}()
	}
	for range clients {
		select {
		case <-started:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	if st := s.admin("DELETE", "/admin/v1/apikeys/"+id, nil, nil); st != 204 {
		t.Fatalf("revoke: %d", st)
	}
	revoked.Store(true)
	// Every client makes a few requests after the revoke before they stop.
	var failed error
	for n := 0; n < 4*clients && failed == nil; {
		select {
		case failed = <-errs:
		case <-afterCh:
			n++
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	if failed != nil {
		t.Fatal(failed)
	}
	for err := range errs {
		t.Fatal(err)
	}
	if before.Load() == 0 {
		t.Fatal("no request was accepted before the revoke: the test did not race it")
	}
}
