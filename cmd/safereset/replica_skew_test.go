package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/postgres"
)

// replicaSkew is the clock skew between replicas that README "Running
// several replicas" says is tolerated: the default --jwt-leeway.
const replicaSkew = 30 * time.Second

// realTime is the true time the test moves; each replica's clock is it
// plus the replica's offset.
type realTime struct {
	mu sync.Mutex
	t  time.Time
}

func (r *realTime) now() time.Time  { r.mu.Lock(); defer r.mu.Unlock(); return r.t }
func (r *realTime) set(t time.Time) { r.mu.Lock(); defer r.mu.Unlock(); r.t = t }
func (r *realTime) clock(off time.Duration) func() time.Time {
	return func() time.Time { return r.now().Add(off) }
}

// Two replicas on one PostgreSQL whose clocks differ by replicaSkew, the
// minting one ahead and then behind: they agree on what the README
// promises within that bound. A token minted on one works on the other
// from the start, for at least TTL − skew and at most TTL + skew of real
// time; it resets once across both; a mail one replica leased cannot be
// claimed by the other before the lease minus the skew, is claimable after
// the lease plus the skew, and the first claim's delete is fenced off
// then; rate-limit windows ignore the replicas' clocks.
func TestPostgres_ReplicaClockSkew(t *testing.T) {
	for _, off := range []time.Duration{replicaSkew, -replicaSkew} {
		t.Run(fmt.Sprintf("minting replica %+v", off), func(t *testing.T) {
			ctx := context.Background()
			url := migratedDB(t)
			t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			rt := &realTime{t: t0}
			// a is the replica whose clock is off; b runs on true time.
			open := func(off time.Duration) *postgres.DB {
				db, err := postgres.Open(ctx, url, postgres.Options{Now: rt.clock(off)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			a, b := open(off), open(0)
			aNow, bNow := rt.clock(off), rt.clock(0)
			key := safereset.NormalizeEmail(alice)
			if _, err := a.CreateUser(ctx, safereset.User{Email: alice, EmailKey: key, PasswordHash: "$2a$04$4M1pj1pO6WGrJ2SP8ZCvMOpJ9sS3e4Xk3MiM3vVIv4ZKpd8WhT/1S",
				CreatedAt: aNow(), PasswordChangedAt: aNow()}); err != nil {
				t.Fatal(err)
			}
			const ttl = time.Hour
			// mint is what the server does on the replica the token
			// request reaches: expiry from that replica's clock.
			mint := func(db *postgres.DB, now func() time.Time, text string) [32]byte {
				t.Helper()
				tok := safereset.ResetToken{Hash: sha256.Sum256([]byte(text)), CreatedAt: now(), ExpiresAt: now().Add(ttl)}
				found, err := db.RequestReset(ctx, key, tok, 3, func(u safereset.User) (safereset.Message, time.Time, error) {
					return safereset.Message{Kind: safereset.MailToken, To: u.Email, Subject: "Reset", Text: "token"}, tok.ExpiresAt, nil
				})
				if err != nil || !found {
					t.Fatalf("RequestReset = %v, %v", found, err)
				}
				return tok.Hash
			}

			// Minted on a, checked on b over its life in true time.
			h := mint(a, aNow, "first")
			for _, c := range []struct {
				at   time.Duration // true time since minting
				want error
			}{
				{0, nil},
				{ttl - replicaSkew - time.Second, nil},
				{ttl + replicaSkew, safereset.ErrTokenExpired},
			} {
				rt.set(t0.Add(c.at))
				if err := b.CheckToken(ctx, key, h, bNow()); !errors.Is(err, c.want) {
					t.Errorf("token minted on the skewed replica, checked on the other %v later: %v, want %v", c.at, err, c.want)
				}
			}

			// A second token, used on b just after minting on a: one
			// reset, then dead on both whatever their clocks say.
			rt.set(t0.Add(2 * ttl))
			h = mint(a, aNow, "second")
			rt.set(t0.Add(2*ttl + time.Second))
			if _, err := b.ResetPassword(ctx, key, h, "$2a$04$newhashnewhashnewhashnewhashnewhashnewhashnewhashnewh", bNow()); err != nil {
				t.Fatalf("reset on the other replica a second after minting: %v", err)
			}
			for name, db := range map[string]*postgres.DB{"skewed": a, "other": b} {
				now := map[string]func() time.Time{"skewed": aNow, "other": bNow}[name]
				if err := db.CheckToken(ctx, key, h, now()); !errors.Is(err, safereset.ErrTokenInvalid) {
					t.Errorf("consumed token on the %s replica: %v, want ErrTokenInvalid", name, err)
				}
			}

			// The outbox: drain what the two requests queued, then lease
			// one fresh mail on a.
			rt.set(t0.Add(3 * ttl))
			for _, db := range []*postgres.DB{a, b} {
				due, err := db.ClaimMail(ctx, rt.now().Add(replicaSkew+time.Second), 0, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range due {
					if err := db.DeleteMail(ctx, e.ID, e.Claim); err != nil {
						t.Fatal(err)
					}
				}
			}
			mint(a, aNow, "third")
			claimAt := t0.Add(3*ttl + replicaSkew + time.Second) // due on both clocks
			rt.set(claimAt)
			const lease = 5 * time.Minute
			held, err := a.ClaimMail(ctx, aNow(), 0, lease)
			if err != nil || len(held) != 1 {
				t.Fatalf("the skewed replica claims %d mails, %v; want its one", len(held), err)
			}
			rt.set(claimAt.Add(lease - replicaSkew - time.Second))
			if got, err := b.ClaimMail(ctx, bNow(), 0, lease); err != nil || len(got) != 0 {
				t.Fatalf("the other replica claimed %d mails %v before the lease minus the skew (%v)", len(got), lease-replicaSkew, err)
			}
			rt.set(claimAt.Add(lease + replicaSkew))
			taken, err := b.ClaimMail(ctx, bNow(), 0, lease)
			if err != nil || len(taken) != 1 || taken[0].ID != held[0].ID {
				t.Fatalf("after the lease plus the skew the other replica claims %d mails, %v; want the leased one", len(taken), err)
			}
			if err := a.DeleteMail(ctx, held[0].ID, held[0].Claim); !errors.Is(err, safereset.ErrMailClaimLost) {
				t.Errorf("the first claim's delete after the take-over: %v, want ErrMailClaimLost", err)
			}
			if err := b.DeleteMail(ctx, taken[0].ID, taken[0].Claim); err != nil {
				t.Errorf("the second claim's delete: %v", err)
			}

			// Rate-limit windows run on the database's clock: one window,
			// counted from both replicas, ending at the same instant.
			hits1, end1, err := a.Count(ctx, "skew-test", 1, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			hits2, end2, err := b.Count(ctx, "skew-test", 1, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if hits1 != 1 || hits2 != 2 || !end1.Equal(end2) {
				t.Errorf("limit counted from both replicas: hits %d then %d, windows ending %v and %v; want 1, 2, one window", hits1, hits2, end1, end2)
			}
		})
	}
}
