package mail_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/mail"
)

// releaseRecorder is the real store, noting each RescheduleMail.
type releaseRecorder struct {
	safereset.Store
	mu      sync.Mutex
	release []rescheduled
}

type rescheduled struct {
	id, claim uint64
	next      time.Time
	attempts  int
}

func (r *releaseRecorder) RescheduleMail(ctx context.Context, id, claim uint64, next time.Time, attempts int, lastErr string) error {
	r.mu.Lock()
	r.release = append(r.release, rescheduled{id, claim, next, attempts})
	r.mu.Unlock()
	return r.Store.RescheduleMail(ctx, id, claim, next, attempts, lastErr)
}

// leaseEater sends through the real SMTP sender and, after the first
// mail, moves the clock past the point where the claimed batch's lease
// leaves less than SendTimeout, as a slow send would.
type leaseEater struct {
	safereset.Sender
	advance func()
	once    sync.Once
	mu      sync.Mutex
	sent    int
}

func (s *leaseEater) Send(ctx context.Context, m safereset.Message) error {
	err := s.Sender.Send(ctx, m)
	s.mu.Lock()
	s.sent++
	s.mu.Unlock()
	s.once.Do(s.advance)
	return err
}

// Once the lease is nearly over the worker starts no new send: it hands
// the unsent rest of its batch back, due now and with attempts unchanged,
// and they are then claimed afresh and each sent exactly once.
func TestWorker_LeaseEndReleasesUnsent(t *testing.T) {
	h := newHarness(t)
	const n = 3
	ids := map[uint64]bool{}
	for _, m := range []string{"m0", "m1", "m2"} {
		ids[h.enqueue("bob@example.com", m, time.Time{})] = true
	}
	const lease, sendTimeout = 10 * time.Minute, time.Minute
	rec := &releaseRecorder{Store: h.db}
	smtp := mustSMTP(t, mail.SMTPConfig{URL: h.srv.URL()})
	var releasedAt time.Time
	sender := &leaseEater{Sender: smtp, advance: func() {
		h.clock.Advance(lease - sendTimeout + time.Second)
		releasedAt = h.clock.Now()
	}}
	w := mail.NewWorker(mail.WorkerConfig{Store: rec, Sender: sender, Logger: slog.New(h.logs), Now: h.clock.Now,
		BaseBackoff: testBase, MaxBackoff: testMax, SendTimeout: sendTimeout, Lease: lease})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for range n {
		h.waitResult("sent")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	rec.mu.Lock()
	released := rec.release
	rec.mu.Unlock()
	if len(released) != n-1 {
		t.Fatalf("%d entries released at the lease's end, want %d: %+v", len(released), n-1, released)
	}
	for _, r := range released {
		if !ids[r.id] || r.claim == 0 || !r.next.Equal(releasedAt) || r.attempts != 0 {
			t.Errorf("release %+v: want a claimed entry of ours, due at %v, attempts 0", r, releasedAt)
		}
	}
	if sender.sent != n {
		t.Errorf("%d sends for %d mails", sender.sent, n)
	}
	if got := len(h.srv.Messages()); got != n {
		t.Errorf("SMTP server received %d mails, want %d", got, n)
	}
	if left := h.outbox(); len(left) != 0 {
		t.Errorf("%d entries left in the outbox", len(left))
	}
}
