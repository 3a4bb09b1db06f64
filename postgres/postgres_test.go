package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/pgtest"
	"github.com/safereset/safereset/postgres"
	"github.com/safereset/safereset/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// mustOpen migrates a new database and opens it with the clock now.
func mustOpen(t testing.TB, now func() time.Time) *postgres.DB {
	t.Helper()
	url := pgtest.NewFromTemplate(t, func(url string) error {
		_, err := postgres.Migrate(context.Background(), url)
		return err
	})
	db, err := postgres.Open(context.Background(), url, postgres.Options{Now: now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store { return mustOpen(t, now) })
}

// openBench opens a migrated database for a benchmark, on the real clock.
func openBench(b *testing.B) *postgres.DB { return mustOpen(b, time.Now) }
