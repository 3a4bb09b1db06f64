package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

// audited returns an EffectsFunc that appends one audit entry of action
// and queues one webhook delivery naming the user.
func audited(action safereset.AuditAction) safereset.EffectsFunc {
	return func(u safereset.User) (safereset.Effects, error) {
		return safereset.Effects{
			Audit: []safereset.AuditEntry{{Action: action, Actor: "apikey:test"}},
			Outbox: []safereset.OutboxEntry{{Webhook: &safereset.WebhookDelivery{
				ID: "msg_" + string(action), URL: "http://127.0.0.1:1/hook", Type: safereset.EventPasswordChanged,
				Body: []byte(`{"userId":` + string(rune('0'+u.ID)) + `}`),
			}}},
		}, nil
	}
}

func mustAudit(t *testing.T, db interface {
	AuditLog(context.Context, safereset.AuditQuery) ([]safereset.AuditEntry, error)
}, q safereset.AuditQuery) []safereset.AuditEntry {
	t.Helper()
	got, err := db.AuditLog(context.Background(), q)
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return got
}

func TestEffects_WrittenOnlyWithTheChange(t *testing.T) {
	ctx := context.Background()
	db, clk := mustOpen(t)

	u, err := db.CreateUser(ctx, safereset.User{Email: "jane@example.com", PasswordHash: "$x"}, audited(safereset.AuditUserCreated))
	if err != nil {
		t.Fatal(err)
	}
	// A refused change writes none of its effects.
	if _, err := db.CreateUser(ctx, safereset.User{Email: "jane@example.com", PasswordHash: "$x"}, audited(safereset.AuditUserCreated)); !errors.Is(err, safereset.ErrUserExists) {
		t.Fatalf("second CreateUser: %v", err)
	}
	if _, err := db.ResetPassword(ctx, u.EmailKey, hashOf("nope"), "$y", clk.Now(), audited(safereset.AuditPasswordChanged)); !errors.Is(err, safereset.ErrTokenInvalid) {
		t.Fatalf("ResetPassword with a bad token: %v", err)
	}
	// An unknown address runs no effects at all.
	found, err := db.RequestReset(ctx, "nobody@example.com", safereset.ResetToken{Hash: hashOf("t0"), ExpiresAt: t0.Add(time.Hour)}, 3,
		composeToken("t0"), func(safereset.User) (safereset.Effects, error) {
			t.Error("effects ran for an unknown address")
			return safereset.Effects{}, nil
		})
	if err != nil || found {
		t.Fatalf("RequestReset unknown: found=%v err=%v", found, err)
	}
	if _, err := db.RequestReset(ctx, u.EmailKey, safereset.ResetToken{Hash: hashOf("t1"), ExpiresAt: t0.Add(time.Hour)}, 3,
		composeToken("t1"), audited(safereset.AuditTokenRequested)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResetPassword(ctx, u.EmailKey, hashOf("t1"), "$y", clk.Now(), audited(safereset.AuditPasswordChanged)); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeAPIKey(ctx, "k_missing", time.Time{}, safereset.Effects{Audit: []safereset.AuditEntry{{Action: safereset.AuditAPIKeyRevoked}}}); !errors.Is(err, safereset.ErrAPIKeyNotFound) {
		t.Fatalf("RevokeAPIKey unknown: %v", err)
	}
	if err := db.DeleteUser(ctx, u.EmailKey, audited(safereset.AuditUserDeleted)); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ctx, u.EmailKey, audited(safereset.AuditUserDeleted)); !errors.Is(err, safereset.ErrUserNotFound) {
		t.Fatalf("second DeleteUser: %v", err)
	}

	got := mustAudit(t, db, safereset.AuditQuery{})
	want := []safereset.AuditAction{safereset.AuditUserCreated, safereset.AuditTokenRequested, safereset.AuditPasswordChanged, safereset.AuditUserDeleted}
	if len(got) != len(want) {
		t.Fatalf("audit has %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, a := range got {
		if a.Action != want[i] || a.UserID != u.ID || a.Actor != "apikey:test" || !a.Time.Equal(t0) || a.ID == 0 {
			t.Errorf("entry %d = %+v, want action %s for user %d at %v", i, a, want[i], u.ID, t0)
		}
	}
	// Every webhook delivery queued with its change is in the outbox, beside
	// the one token mail.
	due, err := db.DueMail(ctx, clk.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	hooks := 0
	for _, e := range due {
		if e.Webhook != nil {
			hooks++
			if e.Webhook.URL != "http://127.0.0.1:1/hook" || len(e.Webhook.Body) == 0 {
				t.Errorf("webhook entry %+v", e.Webhook)
			}
		}
	}
	if hooks != len(want) || len(due) != len(want)+1 {
		t.Errorf("outbox holds %d entries with %d webhooks, want %d and %d", len(due), hooks, len(want)+1, len(want))
	}
}

func TestAudit_PagesAndPrunes(t *testing.T) {
	ctx := context.Background()
	db, clk := mustOpen(t)
	for i := range 10 {
		clk.Set(t0.Add(time.Duration(i) * time.Hour))
		if err := db.Record(ctx, safereset.Effects{Audit: []safereset.AuditEntry{{Action: safereset.AuditJWTIssued, Actor: "admin"}}}); err != nil {
			t.Fatal(err)
		}
	}
	var all []safereset.AuditEntry
	for after := uint64(0); ; {
		page := mustAudit(t, db, safereset.AuditQuery{After: after, Limit: 3})
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("page of %d entries, limit 3", len(page))
		}
		all = append(all, page...)
		after = page[len(page)-1].ID
	}
	if len(all) != 10 {
		t.Fatalf("paged through %d entries, want 10", len(all))
	}
	for i, a := range all {
		if !a.Time.Equal(t0.Add(time.Duration(i) * time.Hour)) {
			t.Errorf("entry %d at %v", i, a.Time)
		}
	}
	since := mustAudit(t, db, safereset.AuditQuery{Since: t0.Add(7 * time.Hour)})
	if len(since) != 3 || !since[0].Time.Equal(t0.Add(7*time.Hour)) {
		t.Errorf("since 7h: %d entries, first %+v", len(since), since)
	}
	n, err := db.PruneAudit(ctx, t0.Add(4*time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("PruneAudit = %d, %v; want 4", n, err)
	}
	left := mustAudit(t, db, safereset.AuditQuery{})
	if len(left) != 6 || !left[0].Time.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("after prune: %d entries, first %+v", len(left), left)
	}
	// Pruning again finds nothing more to delete.
	if n, err := db.PruneAudit(ctx, t0.Add(4*time.Hour)); err != nil || n != 0 {
		t.Errorf("second PruneAudit = %d, %v", n, err)
	}
}
