package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/store/storetest"
)

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)

	if next, err := db.NextMailAt(ctx); err != nil || !next.IsZero() {
		t.Errorf("NextMailAt on empty outbox = %v, %v; want zero", next, err)
	}
	if n, oldest, err := db.OutboxStats(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Errorf("OutboxStats on empty outbox = %d, %v, %v", n, oldest, err)
	}

	// Enqueued in ID order m1..m4; m2 is due last, m3 before everyone.
	m1 := storetest.MustEnqueue(t, db, "m1", t0, t0)
	m2 := storetest.MustEnqueue(t, db, "m2", t0.Add(time.Second), t0.Add(time.Hour))
	m3 := storetest.MustEnqueue(t, db, "m3", t0.Add(2*time.Second), t0.Add(-time.Minute))
	m4 := storetest.MustEnqueue(t, db, "m4", t0.Add(3*time.Second), t0.Add(time.Minute))
	if !(m1 < m2 && m2 < m3 && m3 < m4) {
		t.Fatalf("IDs not increasing: %d %d %d %d", m1, m2, m3, m4)
	}

	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"BeforeAnything", t0.Add(-time.Hour), 10, nil},
		{"DueAtNowInclusive", t0, 10, []string{"m1", "m3"}},
		{"OldestFirstByID", t0.Add(time.Minute), 10, []string{"m1", "m3", "m4"}},
		{"Limit", t0.Add(2 * time.Hour), 2, []string{"m1", "m2"}},
		{"NoLimit", t0.Add(2 * time.Hour), 0, []string{"m1", "m2", "m3", "m4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.DueMail(ctx, tt.now, tt.limit)
			if err != nil || !equalStrings(storetest.Subjects(got), tt.want) {
				t.Errorf("DueMail(%v, %d) = %v, %v; want %v", tt.now, tt.limit, storetest.Subjects(got), err, tt.want)
			}
		})
	}
	if next, _ := db.NextMailAt(ctx); !next.Equal(t0.Add(-time.Minute)) {
		t.Errorf("NextMailAt = %v, want m3's %v", next, t0.Add(-time.Minute))
	}
	if n, oldest, _ := db.OutboxStats(ctx); n != 4 || !oldest.Equal(t0) {
		t.Errorf("OutboxStats = %d, %v; want 4, %v", n, oldest, t0)
	}

	t.Run("Reschedule", func(t *testing.T) {
		later := t0.Add(30 * time.Minute)
		if err := db.RescheduleMail(ctx, m3, 0, later, 1, "421 try later"); err != nil {
			t.Fatal(err)
		}
		got, _ := db.DueMail(ctx, t0, 10)
		if !equalStrings(storetest.Subjects(got), []string{"m1"}) {
			t.Errorf("DueMail after reschedule = %v, want [m1]", storetest.Subjects(got))
		}
		got, _ = db.DueMail(ctx, later, 10)
		var e safereset.OutboxEntry
		for _, g := range got {
			if g.ID == m3 {
				e = g
			}
		}
		if e.Attempts != 1 || e.LastError != "421 try later" || !e.NextAttempt.Equal(later) || e.Message.Subject != "m3" {
			t.Errorf("rescheduled entry = %+v", e)
		}
		if next, _ := db.NextMailAt(ctx); !next.Equal(t0) {
			t.Errorf("NextMailAt after reschedule = %v, want m1's %v", next, t0)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if err := db.DeleteMail(ctx, m1, 0); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteMail(ctx, m1, 0); !errors.Is(err, safereset.ErrMailNotFound) {
			t.Errorf("second DeleteMail: err = %v, want ErrMailNotFound", err)
		}
		if err := db.RescheduleMail(ctx, m1, 0, t0, 2, "x"); !errors.Is(err, safereset.ErrMailNotFound) {
			t.Errorf("RescheduleMail of deleted entry: err = %v, want ErrMailNotFound", err)
		}
		if n, oldest, _ := db.OutboxStats(ctx); n != 3 || !oldest.Equal(t0.Add(time.Second)) {
			t.Errorf("OutboxStats after delete = %d, %v; want 3, %v", n, oldest, t0.Add(time.Second))
		}
		if next, _ := db.NextMailAt(ctx); !next.Equal(t0.Add(time.Minute)) {
			t.Errorf("NextMailAt after delete = %v, want m4's %v", next, t0.Add(time.Minute))
		}
	})

	t.Run("EnqueueDefaults", func(t *testing.T) {
		id, err := db.EnqueueMail(ctx, safereset.OutboxEntry{Message: safereset.Message{Subject: "d"}})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := db.DueMail(ctx, t0, 0)
		if len(got) != 1 || got[0].ID != id || !got[0].CreatedAt.Equal(t0) || !got[0].NextAttempt.Equal(t0) {
			t.Errorf("DueMail at t0 = %+v; want the new entry created and due at the clock's t0", got)
		}
	})
}

// TestOutbox_PreEpochTimes guards the sortable time encoding of the due
// index for times before 1970 and the zero time.
func TestOutbox_PreEpochTimes(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	old := time.Date(1960, 1, 1, 0, 0, 0, 5, time.UTC)
	storetest.MustEnqueue(t, db, "now", t0, t0)
	storetest.MustEnqueue(t, db, "1960", t0, old)
	if next, _ := db.NextMailAt(ctx); !next.Equal(old) {
		t.Errorf("NextMailAt = %v, want %v", next, old)
	}
	got, _ := db.DueMail(ctx, old, 0)
	if !equalStrings(storetest.Subjects(got), []string{"1960"}) {
		t.Errorf("DueMail(1960) = %v, want [1960]", storetest.Subjects(got))
	}
}

// A claim outlives only its process: bbolt's file lock means whoever opens
// the file next is the only sender, so Open makes claimed entries due.
func TestOutbox_OpenReleasesClaims(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New(t0)
	path := filepath.Join(t.TempDir(), "safereset.db")
	db := mustOpenPath(t, path, store.Options{Now: clk.Now})
	id := storetest.MustEnqueue(t, db, "m", t0, t0)
	got, err := db.ClaimMail(ctx, t0, 10, time.Hour)
	if err != nil || len(got) != 1 {
		t.Fatalf("ClaimMail = %v, %v", got, err)
	}
	db.Close()

	clk.Set(t0.Add(time.Minute))
	db = mustOpenPath(t, path, store.Options{Now: clk.Now})
	again, err := db.ClaimMail(ctx, clk.Now(), 10, time.Hour)
	if err != nil || len(again) != 1 || again[0].ID != id {
		t.Fatalf("ClaimMail after reopen = %+v, %v; want the entry the closed process had claimed", again, err)
	}
	if err := db.DeleteMail(ctx, id, got[0].Claim); !errors.Is(err, safereset.ErrMailClaimLost) {
		t.Errorf("DeleteMail with the dead process's claim: err = %v, want ErrMailClaimLost", err)
	}
}
