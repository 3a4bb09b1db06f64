package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/webhooktest"
	"github.com/safereset/safereset/webhook"
)

// received is one request a test receiver got.
type received struct {
	body    []byte
	headers http.Header
}

// newReceiver starts a real HTTP server that records each request and
// answers with status(n) for the n-th request (from 1).
func newReceiver(t *testing.T, status func(n int) int) (*httptest.Server, <-chan received) {
	t.Helper()
	got := make(chan received, 64)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- received{body: body, headers: r.Header.Clone()}
		w.WriteHeader(status(int(n.Add(1))))
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func mustSigner(t *testing.T) (string, *webhook.Signer) {
	t.Helper()
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return secret, s
}

func mustDeliverer(t *testing.T, s *webhook.Signer, now func() time.Time) *webhook.Deliverer {
	t.Helper()
	d, err := webhook.NewDeliverer(webhook.DelivererConfig{Signer: s, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mustEntry publishes one event for url and returns its delivery.
func mustEntry(t *testing.T, url string) safereset.WebhookDelivery {
	t.Helper()
	p, err := webhook.NewPublisher([]string{url}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	es, err := p.Entries(safereset.Event{Type: safereset.EventPasswordChanged, Data: safereset.EventData{
		UserID: 7, Email: "jane@example.com", Client: "apikey:shop", RequestID: "req-1"}})
	if err != nil || len(es) != 1 || es[0].Webhook == nil {
		t.Fatalf("Entries = %+v, %v", es, err)
	}
	return *es[0].Webhook
}

// deliveries sends one valid delivery, one whose body is then tampered
// with, and one signed 10 minutes ago, through a real HTTP receiver.
func deliveries(t *testing.T, s *webhook.Signer) map[string]received {
	t.Helper()
	srv, got := newReceiver(t, func(int) int { return http.StatusNoContent })
	w := mustEntry(t, srv.URL+"/hooks")
	out := map[string]received{}
	for name, now := range map[string]func() time.Time{
		"valid": time.Now,
		"old":   func() time.Time { return time.Now().Add(-10 * time.Minute) },
	} {
		if err := mustDeliverer(t, s, now).Deliver(context.Background(), w); err != nil {
			t.Fatalf("Deliver %s: %v", name, err)
		}
		out[name] = <-got
	}
	tampered := out["valid"]
	tampered.body = bytes.Replace(bytes.Clone(tampered.body), []byte(`"userId":7`), []byte(`"userId":8`), 1)
	if bytes.Equal(tampered.body, out["valid"].body) {
		t.Fatal("tampering changed nothing")
	}
	out["tampered"] = tampered
	return out
}

func TestDeliver_ReferenceLibraryGo(t *testing.T) {
	secret, s := mustSigner(t)
	got := deliveries(t, s)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got["valid"].body, got["valid"].headers); err != nil {
		t.Errorf("valid delivery refused: %v", err)
	}
	if err := wh.Verify(got["tampered"].body, got["tampered"].headers); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("tampered body: %v, want no matching signature", err)
	}
	if err := wh.Verify(got["old"].body, got["old"].headers); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
		t.Errorf("old timestamp: %v, want too old", err)
	}
	// A secret nobody else has does not verify it either.
	other, _ := webhook.NewSecret()
	wh2, _ := standardwebhooks.NewWebhook(other)
	if err := wh2.Verify(got["valid"].body, got["valid"].headers); err == nil {
		t.Error("a delivery verified under another secret")
	}

	var ev safereset.Event
	if err := json.Unmarshal(got["valid"].body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != safereset.EventPasswordChanged || ev.Data.UserID != 7 || ev.Data.Email != "jane@example.com" ||
		ev.Data.Client != "apikey:shop" || ev.Data.RequestID != "req-1" || ev.Timestamp.IsZero() {
		t.Errorf("event body = %+v", ev)
	}
	if ct := got["valid"].headers.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestDeliver_ReferenceLibraryNode(t *testing.T) {
	if !webhooktest.Available(t) {
		t.SkipNow()
	}
	secret, s := mustSigner(t)
	var ds []webhooktest.Delivery
	for name, r := range deliveries(t, s) {
		h := map[string]string{}
		for _, k := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
			h[k] = r.headers.Get(k)
		}
		ds = append(ds, webhooktest.Delivery{Name: name, Body: string(r.body), Headers: h})
	}
	webhooktest.CheckVerdicts(t, webhooktest.Verify(t, secret, ds), "valid")
}

func TestDeliver_Results(t *testing.T) {
	_, s := mustSigner(t)
	d := mustDeliverer(t, s, nil)
	for _, tc := range []struct {
		status    int
		wantErr   bool
		permanent bool
	}{
		{200, false, false}, {204, false, false},
		{500, true, false}, {503, true, false}, {429, true, false}, {408, true, false},
		{400, true, true}, {401, true, true}, {404, true, true}, {410, true, true},
	} {
		srv, got := newReceiver(t, func(int) int { return tc.status })
		err := d.Deliver(context.Background(), mustEntry(t, srv.URL))
		<-got
		if (err != nil) != tc.wantErr || errors.Is(err, safereset.ErrWebhookPermanent) != tc.permanent {
			t.Errorf("status %d: err %v, want error %v permanent %v", tc.status, err, tc.wantErr, tc.permanent)
		}
	}

	t.Run("RedirectNotFollowed", func(t *testing.T) {
		target, targetGot := newReceiver(t, func(int) int { return 200 })
		srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
		defer srv.Close()
		err := d.Deliver(context.Background(), mustEntry(t, srv.URL))
		if !errors.Is(err, safereset.ErrWebhookPermanent) || !strings.Contains(err.Error(), "redirect 307") {
			t.Errorf("redirect: %v", err)
		}
		select {
		case <-targetGot:
			t.Error("the redirect was followed")
		default:
		}
	})

	t.Run("TimeoutIsTemporary", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := d.Deliver(ctx, mustEntry(t, srv.URL))
		var de *webhook.DeliveryError
		if !errors.As(err, &de) || de.Reason != "timeout" || errors.Is(err, safereset.ErrWebhookPermanent) {
			t.Errorf("timeout: %v", err)
		}
	})
}

func TestPublisher(t *testing.T) {
	p, err := webhook.NewPublisher([]string{"https://a.example/h", "http://10.0.0.5:8080/x?k=1", "https://a.example/h"}, time.Hour, func() time.Time { return time.Unix(1e9, 0) })
	if err != nil {
		t.Fatal(err)
	}
	es, err := p.Entries(safereset.Event{Type: safereset.EventFilterReloaded})
	if err != nil || len(es) != 2 {
		t.Fatalf("Entries = %d, %v; want 2 (duplicates folded)", len(es), err)
	}
	if es[0].Webhook.ID != es[1].Webhook.ID || !strings.HasPrefix(es[0].Webhook.ID, "msg_") {
		t.Errorf("ids %q %q: want one shared msg_ id", es[0].Webhook.ID, es[1].Webhook.ID)
	}
	if !es[0].NotAfter.Equal(time.Unix(1e9, 0).Add(time.Hour)) {
		t.Errorf("NotAfter %v", es[0].NotAfter)
	}
	es2, _ := p.Entries(safereset.Event{Type: safereset.EventFilterReloaded})
	if es2[0].Webhook.ID == es[0].Webhook.ID {
		t.Error("two events share a webhook-id")
	}
	for _, bad := range []string{"ftp://x/", "/relative", "http://", "https://x/#frag", "not a url"} {
		if _, err := webhook.NewPublisher([]string{bad}, 0, nil); err == nil {
			t.Errorf("NewPublisher accepted %q", bad)
		}
	}
	if got := webhook.Redact("https://user:pw@hooks.example/p?token=s3cret"); got != "https://hooks.example/p" {
		t.Errorf("Redact = %q", got)
	}
}

func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	a, err := webhook.LoadSigner("", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := webhook.LoadSigner("", dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	if a.Sign("msg_1", ts, []byte("{}")) != b.Sign("msg_1", ts, []byte("{}")) {
		t.Error("the generated secret changed between loads")
	}
	raw, err := os.ReadFile(filepath.Join(dir, webhook.SecretFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, webhook.SecretFileName)); fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v", fi.Mode().Perm())
	}
	// The generated file is the secret receivers are given: the reference
	// library signs the same.
	wh, err := standardwebhooks.NewWebhook(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := wh.Sign("msg_1", ts, []byte("{}"))
	if got := a.Sign("msg_1", ts, []byte("{}")); got != want {
		t.Errorf("Sign = %q, reference %q", got, want)
	}

	bad := filepath.Join(dir, "bad.secret")
	os.WriteFile(bad, []byte("not-a-secret\n"), 0o600)
	if _, err := webhook.LoadSigner(bad, ""); !errors.Is(err, webhook.ErrSecret) {
		t.Errorf("bad secret file: %v", err)
	}
	short := filepath.Join(dir, "short.secret")
	os.WriteFile(short, []byte("whsec_c2hvcnQ=\n"), 0o600)
	if _, err := webhook.LoadSigner(short, ""); !errors.Is(err, webhook.ErrSecret) {
		t.Errorf("short secret: %v", err)
	}
	if _, err := webhook.LoadSigner(filepath.Join(dir, "missing"), dir); err == nil {
		t.Error("a missing --webhook-secret-file was accepted")
	}
}

func TestDeliver_OnlyToConfiguredReceivers(t *testing.T) {
	_, s := mustSigner(t)
	srv, got := newReceiver(t, func(int) int { return 200 })
	d, err := webhook.NewDeliverer(webhook.DelivererConfig{Signer: s, Allowed: []string{"http://127.0.0.1:1/other"}})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Deliver(context.Background(), mustEntry(t, srv.URL))
	if !errors.Is(err, safereset.ErrWebhookPermanent) {
		t.Errorf("delivery to an unconfigured URL: %v", err)
	}
	select {
	case <-got:
		t.Error("an unconfigured receiver got the event")
	default:
	}
}
