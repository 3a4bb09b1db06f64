package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/safereset/safereset"
)

func testOutboxClaims(t *testing.T, open Open) {
	ctx := context.Background()
	const lease = 5 * time.Minute

	t.Run("LeaseHidesEntryUntilItRunsOut", func(t *testing.T) {
		db, _ := fresh(t, open)
		m1 := MustEnqueue(t, db, "m1", T0, T0)
		m2 := MustEnqueue(t, db, "m2", T0, T0.Add(-time.Minute))
		MustEnqueue(t, db, "later", T0, T0.Add(time.Hour))

		got, err := db.ClaimMail(ctx, T0, 10, lease)
		if err != nil || !slices.Equal(Subjects(got), []string{"m1", "m2"}) {
			t.Fatalf("ClaimMail = %v, %v; want [m1 m2] (lowest ID first)", Subjects(got), err)
		}
		if got[0].ID != m1 || got[1].ID != m2 || got[0].Claim == 0 || got[1].Claim == 0 || got[0].Claim == got[1].Claim {
			t.Fatalf("claimed entries %+v: want IDs %d,%d with distinct non-zero claims", got, m1, m2)
		}
		if again, err := db.ClaimMail(ctx, T0.Add(lease-time.Nanosecond), 10, lease); err != nil || len(again) != 0 {
			t.Fatalf("second claim inside the lease = %v, %v; want none", Subjects(again), err)
		}
		if next, err := db.NextMailAt(ctx); err != nil || !next.Equal(T0.Add(lease)) {
			t.Errorf("NextMailAt = %v, %v; want the lease's end %v", next, err, T0.Add(lease))
		}
		taken, err := db.ClaimMail(ctx, T0.Add(lease), 1, lease)
		if err != nil || len(taken) != 1 || taken[0].ID != m1 {
			t.Fatalf("claim after the lease = %+v, %v; want m1 again", taken, err)
		}
		if taken[0].Claim == got[0].Claim {
			t.Fatal("a new claim reused the expired claim's value")
		}
		// The first claimer's lease ran out: it cannot delete or
		// reschedule what the second claimer now holds.
		if err := db.DeleteMail(ctx, m1, got[0].Claim); !errors.Is(err, safereset.ErrMailClaimLost) {
			t.Errorf("DeleteMail with the expired claim: err = %v, want ErrMailClaimLost", err)
		}
		if err := db.RescheduleMail(ctx, m1, got[0].Claim, T0, 1, "x"); !errors.Is(err, safereset.ErrMailClaimLost) {
			t.Errorf("RescheduleMail with the expired claim: err = %v, want ErrMailClaimLost", err)
		}
		// An expired claim nobody took over still owns its entry.
		if err := db.DeleteMail(ctx, m2, got[1].Claim); err != nil {
			t.Errorf("DeleteMail with an expired but untaken claim: %v", err)
		}
		if err := db.DeleteMail(ctx, m1, taken[0].Claim); err != nil {
			t.Fatalf("DeleteMail by the current claim: %v", err)
		}
		if err := db.DeleteMail(ctx, m1, taken[0].Claim); !errors.Is(err, safereset.ErrMailNotFound) {
			t.Errorf("second DeleteMail: err = %v, want ErrMailNotFound", err)
		}
		if n, _, err := db.OutboxStats(ctx); err != nil || n != 1 {
			t.Errorf("OutboxStats depth = %d, %v; want 1 (later)", n, err)
		}
	})

	t.Run("RescheduleReleasesClaim", func(t *testing.T) {
		db, _ := fresh(t, open)
		id := MustEnqueue(t, db, "m", T0, T0)
		got, err := db.ClaimMail(ctx, T0, 10, lease)
		if err != nil || len(got) != 1 {
			t.Fatalf("ClaimMail = %v, %v", got, err)
		}
		retry := T0.Add(time.Minute)
		if err := db.RescheduleMail(ctx, id, got[0].Claim, retry, 1, "421 try later"); err != nil {
			t.Fatalf("RescheduleMail: %v", err)
		}
		if due, _ := db.ClaimMail(ctx, retry.Add(-time.Nanosecond), 10, lease); len(due) != 0 {
			t.Errorf("claimed before its retry time: %v", Subjects(due))
		}
		due, err := db.ClaimMail(ctx, retry, 10, lease)
		if err != nil || len(due) != 1 {
			t.Fatalf("ClaimMail at retry = %v, %v", Subjects(due), err)
		}
		if e := due[0]; e.Attempts != 1 || e.LastError != "421 try later" || e.Message.Subject != "m" || e.Claim == got[0].Claim {
			t.Errorf("rescheduled entry = %+v", e)
		}
		if err := db.RescheduleMail(ctx, id, got[0].Claim, retry, 2, "x"); !errors.Is(err, safereset.ErrMailClaimLost) {
			t.Errorf("RescheduleMail with the released claim: err = %v, want ErrMailClaimLost", err)
		}
	})

	t.Run("LimitOldestFirst", func(t *testing.T) {
		db, _ := fresh(t, open)
		for _, s := range []string{"a", "b", "c"} {
			MustEnqueue(t, db, s, T0, T0)
		}
		first, err := db.ClaimMail(ctx, T0, 2, lease)
		if err != nil || !slices.Equal(Subjects(first), []string{"a", "b"}) {
			t.Fatalf("ClaimMail(limit 2) = %v, %v", Subjects(first), err)
		}
		rest, err := db.ClaimMail(ctx, T0, 2, lease)
		if err != nil || !slices.Equal(Subjects(rest), []string{"c"}) {
			t.Fatalf("next ClaimMail = %v, %v; want [c]", Subjects(rest), err)
		}
	})

	t.Run("ConcurrentClaimsShareNothing", func(t *testing.T) {
		db, _ := fresh(t, open)
		const n = 40
		for i := range n {
			MustEnqueue(t, db, string(rune('A'+i)), T0, T0)
		}
		const workers = 4
		start := make(chan struct{})
		results := make(chan []safereset.OutboxEntry, workers*n)
		errs := make(chan error, workers*n)
		done := make(chan struct{})
		for range workers {
			go func() {
				defer func() { done <- struct{}{} }()
				<-start
				for {
					got, err := db.ClaimMail(ctx, T0, 3, lease)
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					results <- got
				}
			}()
		}
		close(start)
		for range workers {
			<-done
		}
		close(results)
		close(errs)
		for err := range errs {
			t.Errorf("ClaimMail: %v", err)
		}
		seen := map[uint64]int{}
		for got := range results {
			for _, e := range got {
				seen[e.ID]++
			}
		}
		if len(seen) != n {
			t.Errorf("%d distinct entries claimed, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("entry %d claimed %d times", id, c)
			}
		}
	})
}
