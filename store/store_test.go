package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safereset/safereset"
	"github.com/safereset/safereset/internal/testclock"
	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/store/storetest"
)

// t0 is the start of every test clock.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// mustOpen opens a fresh database in a temp dir with a clock at t0. On
// cleanup it closes the database, reopens the file and checks its pages
// and indexes, like bbolt's own test helper.
func mustOpen(t testing.TB) (*store.DB, *testclock.Clock) {
	t.Helper()
	clk := testclock.New(t0)
	path := filepath.Join(t.TempDir(), "safereset.db")
	return mustOpenPath(t, path, store.Options{Now: clk.Now}), clk
}

// mustOpenPath opens path and registers the close-reopen-check cleanup.
func mustOpenPath(t testing.TB, path string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		db.Close() // may already be closed by the test
		mustCheck(t, path)
	})
	return db
}

// mustCheck reopens path and verifies it.
func mustCheck(t testing.TB, path string) {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("reopen for check: %v", err)
	}
	defer db.Close()
	if err := db.Check(context.Background()); err != nil {
		t.Fatalf("consistency check: %v", err)
	}
}

// mustCreateUser stores a user with the given address.
func mustCreateUser(t testing.TB, db *store.DB, email string) safereset.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), safereset.User{Email: email, PasswordHash: "$argon2id$old"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func hashOf(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func TestOpen_CreatesFileAndReopens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "safereset.db")
	db := mustOpenPath(t, path, store.Options{})
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("file mode = %v, want no group/other access", perm)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := mustOpenPath(t, path, store.Options{})
	if n, err := db2.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers = %d, %v", n, err)
	}
}

func TestOpen_Locked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "safereset.db")
	mustOpenPath(t, path, store.Options{})

	db, err := store.Open(path, store.Options{Timeout: 50 * time.Millisecond})
	if err == nil {
		db.Close()
		t.Fatal("second Open succeeded while the file is locked")
	}
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	for _, want := range []string{path, "locked by another process", "another safereset running"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestOpen_Schema(t *testing.T) {
	ctx := context.Background()
	t.Run("Newer", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "safereset.db")
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SetSchemaVersion(ctx, db, store.SchemaVersion+1); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db, err = store.Open(path, store.Options{})
		if !errors.Is(err, store.ErrSchema) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("Open newer schema: err = %v, want ErrSchema", err)
		}
	})
	t.Run("Foreign", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		if err := store.WriteForeignBolt(path); err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(path, store.Options{})
		if !errors.Is(err, store.ErrSchema) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("Open foreign bbolt file: err = %v, want ErrSchema", err)
		}
	})
	t.Run("NotBolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "junk.db")
		if err := os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(path, store.Options{})
		if err == nil {
			db.Close()
			t.Fatal("Open of a junk file succeeded")
		}
	})
}

func TestOpen_BadPath(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{dir, filepath.Join(notDir, "safereset.db")} {
		db, err := store.Open(path, store.Options{})
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func TestOpen_RestartKeepsEverything(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New(t0)
	path := filepath.Join(t.TempDir(), "safereset.db")
	opts := store.Options{Now: clk.Now, OutboxKey: testKey(t)}
	db := mustOpenPath(t, path, opts)

	mustCreateUser(t, db, "alice@example.com")
	tok := safereset.ResetToken{Hash: hashOf("tok"), ExpiresAt: t0.Add(time.Hour)}
	if _, err := db.RequestReset(ctx, "alice@example.com", tok, 3, storetest.ComposeToken("tok")); err != nil {
		t.Fatal(err)
	}
	key := safereset.APIKey{ID: "k1", Name: "app", Hash: hashOf("apikey"), CreatedAt: t0}
	if err := db.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = mustOpenPath(t, path, opts)
	u, err := db.UserByEmail(ctx, "alice@example.com")
	if err != nil || u.Email != "alice@example.com" {
		t.Fatalf("UserByEmail after restart = %+v, %v", u, err)
	}
	if err := db.CheckToken(ctx, "alice@example.com", hashOf("tok"), t0); err != nil {
		t.Errorf("CheckToken after restart: %v", err)
	}
	if k, err := db.APIKeyByHash(ctx, hashOf("apikey")); err != nil || k.ID != "k1" {
		t.Errorf("APIKeyByHash after restart = %+v, %v", k, err)
	}
	due, err := db.DueMail(ctx, t0, 10)
	if err != nil || len(due) != 1 || !strings.Contains(due[0].Message.Text, "tok") {
		t.Errorf("DueMail after restart = %+v, %v", due, err)
	}
	// IDs keep counting after a restart.
	if u2 := mustCreateUser(t, db, "bob@example.com"); u2.ID <= u.ID {
		t.Errorf("new user ID %d not after %d", u2.ID, u.ID)
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		mustCreateUser(t, db, e)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Backup(ctx, f)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != n {
		t.Errorf("Backup returned %d bytes, file has %d", n, fi.Size())
	}
	// The live database keeps working and is not locked by the backup.
	mustCreateUser(t, db, "d@example.com")

	bk := mustOpenPath(t, path, store.Options{})
	if c, err := bk.CountUsers(ctx); err != nil || c != 3 {
		t.Errorf("backup CountUsers = %d, %v; want 3", c, err)
	}
	if _, err := bk.UserByEmail(ctx, "b@example.com"); err != nil {
		t.Errorf("backup UserByEmail: %v", err)
	}

	t.Run("Cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		var buf bytes.Buffer
		if _, err := db.Backup(cctx, &buf); !errors.Is(err, context.Canceled) {
			t.Errorf("Backup with cancelled ctx: err = %v", err)
		}
	})
}

func TestDB_Ping(t *testing.T) {
	db, _ := mustOpen(t)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Ping(ctx); err == nil {
		t.Fatal("Ping with a cancelled context succeeded")
	}
}
