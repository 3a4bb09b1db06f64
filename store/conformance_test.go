package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/safereset/safereset/store"
	"github.com/safereset/safereset/store/storetest"
)

// TestConformance runs the engine-agnostic store suite against bbolt; each
// store is checked (pages and indexes) after its test.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) storetest.Store {
		path := filepath.Join(t.TempDir(), "safereset.db")
		return mustOpenPath(t, path, store.Options{Now: now, NoSync: true})
	})
}
