package server_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/server"
)

// TestRequestToken_WorkerWokenOffTheRequestPath: a token request for a
// known address answers 202 while waking the mail worker is still blocked,
// so the worker's work (sending, deleting the entry) cannot run inside the
// answer; the wake-up does come, once. A synchronous wake in the handler
// would hold the answer until app.Test gives up.
func TestRequestToken_WorkerWokenOffTheRequestPath(t *testing.T) {
	d, key := deps(t, nil, io.Discard)
	if _, err := d.Store.CreateUser(context.Background(), safereset.User{Email: "alice@example.com", PasswordHash: "$argon2id$x"}); err != nil {
		t.Fatal(err)
	}
	woken, release := make(chan struct{}, 4), make(chan struct{})
	d.NotifyOutbox = func() {
		woken <- struct{}{}
		<-release
	}
	d.RequestFloor = 5 * time.Millisecond
	app, err := server.NewPublic(d)
	if err != nil {
		t.Fatal(err)
	}
	defer close(release)
	for _, addr := range []string{"nobody@example.com", "alice@example.com"} {
		req := httptest.NewRequest("POST", "/api/v1/user/reset-password", strings.NewReader(`{"emailAddress":"`+addr+`"}`))
		req.Header.Set("X-Api-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := app.Test(req, 30_000)
		if err != nil {
			t.Fatalf("POST %s: %v (answer held by the worker wake-up?)", addr, err)
		}
		if resp.StatusCode != 202 {
			t.Fatalf("POST %s: %d", addr, resp.StatusCode)
		}
	}
	<-woken // the known address's wake-up, after its answer
	select {
	case <-woken:
		t.Error("worker woken twice for one known and one unknown address")
	default:
	}
}
