package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/postgres"
)

// openWithURL is mustOpen that also returns the database's URL, for
// looking at what the store wrote.
func openWithURL(t *testing.T) (*postgres.DB, *pgx.Conn) {
	t.Helper()
	url := pgtest.NewFromTemplate(t, func(url string) error {
		_, err := postgres.Migrate(context.Background(), url)
		return err
	})
	db, err := postgres.Open(context.Background(), url, postgres.Options{Now: time.Now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return db, conn
}

// audited records the audit line the server records for a token request.
func audited(u safereset.User) (safereset.Effects, error) {
	return safereset.Effects{Audit: []safereset.AuditEntry{{Action: safereset.AuditTokenRequested, Actor: "api-key:bench", RequestID: "req-0123456789", ClientAddr: "192.0.2.1"}}}, nil
}

// walBytes is how much WAL the cluster wrote while fn ran.
func walBytes(t *testing.T, conn *pgx.Conn, fn func()) int64 {
	t.Helper()
	var start string
	if err := conn.QueryRow(context.Background(), `SELECT pg_current_wal_insert_lsn()::text`).Scan(&start); err != nil {
		t.Fatal(err)
	}
	fn()
	var n int64
	if err := conn.QueryRow(context.Background(), `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::bigint`, start).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// An unknown address must cost what a known one does. Time is too noisy
// on a shared machine to assert on, so this compares what the database
// does: the WAL each path writes (one token row with its index entries,
// one sealed mail, the audit line, the evictions) must be within a factor of two, where
// a bare counter bump for the unknown address writes several times less.
// The decoy tables must also stay bounded however many requests arrive.
func TestUnknownAddressDoesKnownWork(t *testing.T) {
	ctx := context.Background()
	db, conn := openWithURL(t)
	if _, err := db.CreateUser(ctx, safereset.User{Email: "alice@example.com", PasswordHash: "$argon2id$x"}); err != nil {
		t.Fatal(err)
	}
	const n, outstanding = 60, 3
	request := func(email string) {
		for i := 0; i < n; i++ {
			found, err := db.RequestReset(ctx, email, benchToken(), outstanding, compose, audited)
			if err != nil {
				t.Fatalf("RequestReset(%s): %v", email, err)
			}
			if want := email == "alice@example.com"; found != want {
				t.Fatalf("RequestReset(%s) found = %v, want %v", email, found, want)
			}
		}
	}
	// Warm both paths first so neither pays for first-touch page writes.
	request("alice@example.com")
	request("nobody@example.com")
	known := walBytes(t, conn, func() { request("alice@example.com") })
	unknown := walBytes(t, conn, func() { request("nobody@example.com") })
	t.Logf("WAL per request: known %d bytes, unknown %d bytes", known/n, unknown/n)
	if known <= 0 || unknown <= 0 {
		t.Fatalf("no WAL measured: known %d, unknown %d", known, unknown)
	}
	if unknown*2 < known || known*2 < unknown {
		t.Errorf("unknown address writes %d WAL bytes for %d requests, known %d: not the same work", unknown, n, known)
	}

	count := func(q string) int {
		var c int
		if err := conn.QueryRow(ctx, q).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := count(`SELECT count(*) FROM reset_tokens`); got != outstanding {
		t.Errorf("known address has %d tokens, want %d", got, outstanding)
	}
	if got := count(`SELECT count(*) FROM request_decoy_tokens`); got != outstanding {
		t.Errorf("unknown address left %d decoy tokens, want %d (evicted like a known one)", got, outstanding)
	}
	if got := count(`SELECT count(*) FROM request_decoys WHERE message IS NOT NULL`); got != 1 {
		t.Errorf("%d decoy mail rows for one unknown address, want 1", got)
	}
	if got := count(`SELECT count(*) FROM audit`); got != 2*n {
		t.Errorf("audit has %d lines, want %d (only the known address's)", got, 2*n)
	}
	if got := count(`SELECT count(*) FROM request_decoys WHERE effects IS NOT NULL`); got != 1 {
		t.Errorf("%d decoy rows carry the unknown address's effects, want 1", got)
	}
	// Sealed like the outbox: the address is not readable in the database.
	if got := count(`SELECT count(*) FROM request_decoys WHERE position(convert_to('nobody@example.com', 'UTF8') IN coalesce(message, '') || coalesce(effects, '')) > 0`); got != 0 {
		t.Errorf("%d decoy rows hold the unknown address in clear", got)
	}
	if got := count(`SELECT count(*) FROM outbox`); got != 2*n {
		t.Errorf("outbox has %d mails, want %d (only the known address's)", got, 2*n)
	}
}
