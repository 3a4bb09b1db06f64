package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/breach"
	"github.com/safereset/safereset/password"
	"github.com/safereset/safereset/server"
)

// TestReset_GuessNeedsNoHashingSlot: a PATCH that cannot succeed (its
// token is not the live one of its address) is answered from the cheap
// rules alone: while every hashing slot is held, wrong-token requests with
// strong, weak, breached or local-part passwords are all answered, with
// ER349 only where a cheap rule (filter, local part) finds it. The live
// token's request waits for a slot and gets every code, the strength
// verdict included.
func TestReset_GuessNeedsNoHashingSlot(t *testing.T) {
	f, err := breach.OpenDefault()
	if err != nil {
		t.Fatal(err)
	}
	checker := breach.NewChecker(f, breach.CheckerOptions{MinScore: 3})
	t.Cleanup(func() { checker.Close() })
	d, key := deps(t, checker, io.Discard)
	const slots = 2
	d.Hasher, err = password.NewHasher(password.Params{Memory: 8192, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, slots, nil)
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.NewPublic(d)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const email = "jane@example.com"
	if _, err := d.Store.CreateUser(ctx, safereset.User{Email: email, PasswordHash: "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"}); err != nil {
		t.Fatal(err)
	}
	live := strings.Repeat("1", 32)
	rt := safereset.ResetToken{Hash: sha256.Sum256([]byte(live)), CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if _, err := d.Store.RequestReset(ctx, email, rt, 3, func(u safereset.User) (safereset.Message, time.Time, error) {
		return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "s", Text: "t"}, rt.ExpiresAt, nil
	}); err != nil {
		t.Fatal(err)
	}

	const strong, weak, breached, local = "kDWPe4qf$&mgM26&8hX", "Summer2026", "password1", "xJANE-kq8$Zm41!"
	// Preconditions, so each case tests what it says.
	for pw, want := range map[string]safereset.Verdict{strong: {}, weak: {}, breached: {Breached: true}, local: {Weak: true}} {
		if v, err := checker.CheckQuick(pw, []string{email}); err != nil || v != want {
			t.Fatalf("CheckQuick(%q) = %+v %v, want %+v", pw, v, err, want)
		}
	}
	if v, _ := checker.Check(weak, []string{email}); !v.Weak {
		t.Fatalf("%q is not weak by the full check; pick another", weak)
	}

	timeout := -1 * time.Millisecond
	if dl, ok := t.Deadline(); ok {
		// Not a speed limit: a guess that waits for a slot would wait
		// forever here, and failing beats hanging until the test binary
		// is killed.
		timeout = time.Until(dl) - 5*time.Second
	}
	patch := func(pw, verify, token string) []string {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"emailAddress": email, "password": pw, "passwordVerify": verify, "token": token})
		req := httptest.NewRequest("PATCH", "/api/v1/user/reset-password", strings.NewReader(string(b)))
		req.Header.Set("X-Api-Key", key)
		resp, err := app.Test(req, int(timeout/time.Millisecond))
		if err != nil {
			t.Fatalf("PATCH %q: %v (waiting for a hashing slot?)", pw, err)
		}
		defer resp.Body.Close()
		var env struct{ Errors map[string]any }
		json.NewDecoder(resp.Body).Decode(&env)
		var codes []string
		for c := range env.Errors {
			codes = append(codes, c)
		}
		return sortedCodes(codes)
	}

	// Hold every slot.
	held, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range slots {
		wg.Go(func() { d.Hasher.Do(ctx, func() { held <- struct{}{}; <-release }) })
	}
	for range slots {
		<-held
	}
	wrong := strings.Repeat("2", 32)
	for _, tc := range []struct {
		name, pw, verify string
		want             string
	}{
		{"WrongTokenStrong", strong, strong, "ER352"},
		{"WrongTokenMismatchStrong", strong, strong + "x", "ER350,ER352"},
		{"WrongTokenWeak", weak, weak, "ER352"},
		{"WrongTokenBreached", breached, breached, "ER349,ER352"},
		{"WrongTokenLocalPart", local, local, "ER349,ER352"},
	} {
		if got := strings.Join(patch(tc.pw, tc.verify, wrong), ","); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	close(release)
	wg.Wait()

	// The live token: the strength estimate runs, and every code is listed.
	if got := strings.Join(patch(weak, weak+"x", live), ","); got != "ER349,ER350" {
		t.Errorf("live token, weak and mismatched: %s, want ER349,ER350", got)
	}
	if got := strings.Join(patch(weak, weak, live), ","); got != "ER349" {
		t.Errorf("live token, weak: %s, want ER349", got)
	}
}

func sortedCodes(cs []string) []string {
	for i := range cs {
		for j := i + 1; j < len(cs); j++ {
			if cs[j] < cs[i] {
				cs[i], cs[j] = cs[j], cs[i]
			}
		}
	}
	return cs
}
