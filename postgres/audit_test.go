package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/postgres"
)

// holdAuditTrigger makes an audit insert whose target is "hold:N" wait,
// after its id is taken and before its transaction commits, until the
// advisory lock N is free: a test holding lock N decides when that
// transaction commits.
const holdAuditTrigger = `
CREATE FUNCTION test_hold_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.target LIKE 'hold:%' THEN
		PERFORM pg_advisory_xact_lock(substr(NEW.target, 6)::bigint);
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER test_hold_audit AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION test_hold_audit();`

// waitingOn waits until some session waits for the advisory lock key.
// The sessions are other goroutines' transactions; pg_locks is where
// PostgreSQL says one is blocked.
func waitingOn(t *testing.T, conn *pgx.Conn, key int64, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND ((classid::bigint << 32) | objid::bigint) = $1`, key).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the transaction held on lock %d ended early: %v", key, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing waits on lock %d after 30s", key)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAuditLog_LateCommitNotSkipped: transaction A takes audit id 1 and
// commits after transaction B, which took id 2. A reader paging with
// after= (as `safereset audit --follow` does) that reads while A is still
// open must not page past 2 and then miss 1: every committed entry comes
// back exactly once, in id order.
func TestAuditLog_LateCommitNotSkipped(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewFromTemplate(t, func(url string) error {
		_, err := postgres.Migrate(context.Background(), url)
		return err
	})
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctl, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close(ctx)
	if _, err := ctl.Exec(ctx, holdAuditTrigger); err != nil {
		t.Fatal(err)
	}
	const lockA, lockB = 7001, 7002
	if _, err := ctl.Exec(ctx, `SELECT pg_advisory_lock($1), pg_advisory_lock($2)`, int64(lockA), int64(lockB)); err != nil {
		t.Fatal(err)
	}
	record := func(key int64) <-chan error {
		done := make(chan error, 1)
		go func() {
			done <- db.Record(ctx, safereset.Effects{Audit: []safereset.AuditEntry{{Action: safereset.AuditJWTIssued, Actor: "admin", Target: fmt.Sprintf("hold:%d", key)}}})
		}()
		return done
	}
	unlock := func(key int64) {
		t.Helper()
		if _, err := ctl.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			t.Fatal(err)
		}
	}

	doneA := record(lockA) // takes id 1, then waits
	waitingOn(t, ctl, lockA, doneA)
	doneB := record(lockB) // takes id 2, then waits
	waitingOn(t, ctl, lockB, doneB)
	unlock(lockB)
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}

	// B has committed, A has not. A reader now either waits for A or
	// returns only what cannot be overtaken; either way it must not
	// return 2 and then page past 1.
	type page struct {
		entries []safereset.AuditEntry
		err     error
	}
	first := make(chan page, 1)
	go func() {
		es, err := db.AuditLog(ctx, safereset.AuditQuery{})
		first <- page{es, err}
	}()
	var p page
	deadline := time.Now().Add(30 * time.Second)
	for answered := false; !answered; {
		if time.Now().After(deadline) {
			t.Fatal("the reader neither answered nor waited within 30s")
		}
		select {
		case p = <-first:
			answered = true
			unlock(lockA)
			continue
		default:
		}
		// Or the reader is blocked (on any advisory lock but the test's),
		// waiting for A: let A commit, then take the answer.
		var n int
		if err := ctl.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND ((classid::bigint << 32) | objid::bigint) NOT IN ($1, $2)`, int64(lockA), int64(lockB)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			unlock(lockA)
			p, answered = <-first, true
			continue
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	got := p.entries
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	var after uint64
	if len(got) > 0 {
		after = got[len(got)-1].ID
	}
	rest, err := db.AuditLog(ctx, safereset.AuditQuery{After: after})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, rest...)
	var ids []uint64
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	all, err := db.AuditLog(ctx, safereset.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("%d entries committed, want 2", len(all))
	}
	if want := []uint64{all[0].ID, all[1].ID}; !slices.Equal(ids, want) {
		t.Errorf("paging while the lower id was uncommitted returned ids %v; want %v (each committed entry once, in order)", ids, want)
	}
}
