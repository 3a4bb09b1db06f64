package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

// audited returns an EffectsFunc that appends one audit entry of action
// and queues one webhook delivery naming the user.
func audited(action safereset.AuditAction) safereset.EffectsFunc {
	return func(u safereset.User) (safereset.Effects, error) {
		return safereset.Effects{
			Audit: []safereset.AuditEntry{{Action: action, Actor: "apikey:test", RequestID: "req", ClientAddr: "203.0.113.0/24"}},
			Outbox: []safereset.OutboxEntry{{NotAfter: T0.Add(72 * time.Hour), Webhook: &safereset.WebhookDelivery{
				ID: "msg_" + string(action), URL: "http://127.0.0.1:1/hook", Type: safereset.EventPasswordChanged,
				Body: []byte(fmt.Sprintf(`{"userId":%d}`, u.ID)),
			}}},
		}, nil
	}
}

func mustAudit(t *testing.T, db Store, q safereset.AuditQuery) []safereset.AuditEntry {
	t.Helper()
	got, err := db.AuditLog(context.Background(), q)
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return got
}

func testEffects(t *testing.T, open Open) {
	ctx := context.Background()

	t.Run("WrittenOnlyWithTheChange", func(t *testing.T) {
		db, clk := fresh(t, open)
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
		// An unknown address records nothing (counted below).
		found, err := db.RequestReset(ctx, "nobody@example.com", safereset.ResetToken{Hash: hashOf("t0"), ExpiresAt: T0.Add(time.Hour)}, 3,
			ComposeToken("t0"), audited(safereset.AuditTokenRequested))
		if err != nil || found {
			t.Fatalf("RequestReset unknown: found=%v err=%v", found, err)
		}
		if _, err := db.RequestReset(ctx, u.EmailKey, safereset.ResetToken{Hash: hashOf("t1"), ExpiresAt: T0.Add(time.Hour)}, 3,
			ComposeToken("t1"), audited(safereset.AuditTokenRequested)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ResetPassword(ctx, u.EmailKey, hashOf("t1"), "$y", clk.Now(), audited(safereset.AuditPasswordChanged)); err != nil {
			t.Fatal(err)
		}
		key := safereset.APIKey{ID: "k_1", Name: "shop", Hash: hashOf("key")}
		created := safereset.Effects{Audit: []safereset.AuditEntry{{Action: safereset.AuditAPIKeyCreated, Actor: "admin", Target: "k_1 shop"}}}
		if err := db.CreateAPIKey(ctx, key, created); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateAPIKey(ctx, key, created); err == nil {
			t.Fatal("a duplicate key was stored")
		}
		revoked := safereset.Effects{Audit: []safereset.AuditEntry{{Action: safereset.AuditAPIKeyRevoked, Actor: "admin", Target: "k_1"}}}
		for range 2 { // the second revoke changes nothing and records nothing
			if err := db.RevokeAPIKey(ctx, "k_1", time.Time{}, revoked); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.RevokeAPIKey(ctx, "k_missing", time.Time{}, revoked); !errors.Is(err, safereset.ErrAPIKeyNotFound) {
			t.Fatalf("RevokeAPIKey unknown: %v", err)
		}
		if err := db.DeleteUser(ctx, u.EmailKey, audited(safereset.AuditUserDeleted)); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteUser(ctx, u.EmailKey, audited(safereset.AuditUserDeleted)); !errors.Is(err, safereset.ErrUserNotFound) {
			t.Fatalf("second DeleteUser: %v", err)
		}

		got := mustAudit(t, db, safereset.AuditQuery{})
		want := []struct {
			action safereset.AuditAction
			user   uint64
		}{
			{safereset.AuditUserCreated, u.ID}, {safereset.AuditTokenRequested, u.ID}, {safereset.AuditPasswordChanged, u.ID},
			{safereset.AuditAPIKeyCreated, 0}, {safereset.AuditAPIKeyRevoked, 0}, {safereset.AuditUserDeleted, u.ID},
		}
		if len(got) != len(want) {
			t.Fatalf("audit has %d entries, want %d: %+v", len(got), len(want), got)
		}
		for i, a := range got {
			if a.Action != want[i].action || a.UserID != want[i].user || !a.Time.Equal(T0) || a.ID == 0 || (i > 0 && a.ID <= got[i-1].ID) {
				t.Errorf("entry %d = %+v, want %s for user %d at %v, IDs increasing", i, a, want[i].action, want[i].user, T0)
			}
		}
		if a := got[0]; a.Actor != "apikey:test" || a.RequestID != "req" || a.ClientAddr != "203.0.113.0/24" {
			t.Errorf("entry fields not kept: %+v", a)
		}
		if got[3].Target != "k_1 shop" {
			t.Errorf("target %q", got[3].Target)
		}

		// Every webhook delivery queued with its change is in the outbox,
		// beside the one token mail, and comes back as it went in.
		due, err := db.ClaimMail(ctx, clk.Now(), 0, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		hooks := map[string]safereset.WebhookDelivery{}
		for _, e := range due {
			if e.Webhook != nil {
				hooks[e.Webhook.ID] = *e.Webhook
				if !e.NotAfter.Equal(T0.Add(72 * time.Hour)) {
					t.Errorf("webhook NotAfter %v", e.NotAfter)
				}
			}
		}
		if len(hooks) != 4 || len(due) != 5 {
			t.Errorf("outbox holds %d entries with %d webhooks, want 5 and 4", len(due), len(hooks))
		}
		h := hooks["msg_"+string(safereset.AuditPasswordChanged)]
		if h.URL != "http://127.0.0.1:1/hook" || h.Type != safereset.EventPasswordChanged || string(h.Body) != fmt.Sprintf(`{"userId":%d}`, u.ID) {
			t.Errorf("password.changed delivery came back as %+v", h)
		}
	})

	t.Run("RecordPagesAndPrunes", func(t *testing.T) {
		db, clk := fresh(t, open)
		for i := range 10 {
			clk.Set(T0.Add(time.Duration(i) * time.Hour))
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
			if !a.Time.Equal(T0.Add(time.Duration(i) * time.Hour)) {
				t.Errorf("entry %d at %v", i, a.Time)
			}
		}
		since := mustAudit(t, db, safereset.AuditQuery{Since: T0.Add(7 * time.Hour)})
		if len(since) != 3 || !since[0].Time.Equal(T0.Add(7*time.Hour)) {
			t.Errorf("since 7h: %d entries, first %+v", len(since), since)
		}
		n, err := db.PruneAudit(ctx, T0.Add(4*time.Hour))
		if err != nil || n != 4 {
			t.Fatalf("PruneAudit = %d, %v; want 4", n, err)
		}
		left := mustAudit(t, db, safereset.AuditQuery{})
		if len(left) != 6 || !left[0].Time.Equal(T0.Add(4*time.Hour)) {
			t.Errorf("after prune: %d entries, first %+v", len(left), left)
		}
		if n, err := db.PruneAudit(ctx, T0.Add(4*time.Hour)); err != nil || n != 0 {
			t.Errorf("second PruneAudit = %d, %v", n, err)
		}
		// Record writes webhook deliveries too.
		if err := db.Record(ctx, safereset.Effects{Outbox: []safereset.OutboxEntry{{Webhook: &safereset.WebhookDelivery{ID: "msg_r", URL: "http://x/", Type: safereset.EventFilterReloaded, Body: []byte("{}")}}}}); err != nil {
			t.Fatal(err)
		}
		due, err := db.ClaimMail(ctx, clk.Now(), 0, time.Minute)
		if err != nil || len(due) != 1 || due[0].Webhook == nil || due[0].Webhook.ID != "msg_r" {
			t.Errorf("recorded delivery: %+v, %v", due, err)
		}
	})
}
