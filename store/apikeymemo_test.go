package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safereset/safereset"
	bolt "go.etcd.io/bbolt"
)

func openMemoDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "memo.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func memoHash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// lookup calls APIKeyByHash twice: the first may fill the memo, the second
// must be served from it and agree.
func lookupTwice(t *testing.T, db *DB, h [32]byte) (safereset.APIKey, error) {
	t.Helper()
	ctx := context.Background()
	k1, err1 := db.APIKeyByHash(ctx, h)
	k2, err2 := db.APIKeyByHash(ctx, h)
	if k1 != k2 || (err1 == nil) != (err2 == nil) {
		t.Fatalf("second lookup differs: %+v %v then %+v %v", k1, err1, k2, err2)
	}
	return k2, err2
}

// TestAPIKeyMemo_SeesEveryChange: after a key is read (and remembered),
// revoking it, rotating it (a new key, the old revoked), changing its
// record in place and deleting it are each seen by the very next lookup.
func TestAPIKeyMemo_SeesEveryChange(t *testing.T) {
	ctx := context.Background()
	db := openMemoDB(t)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := safereset.APIKey{ID: "k_old", Name: "shop", Hash: memoHash("old"), CreatedAt: created}
	if err := db.CreateAPIKey(ctx, old); err != nil {
		t.Fatal(err)
	}
	k, err := lookupTwice(t, db, old.Hash)
	if err != nil || k != old {
		t.Fatalf("lookup = %+v, %v; want %+v", k, err, old)
	}
	if n := db.apiKeys.len(); n != 1 {
		t.Fatalf("memo holds %d keys after a lookup, want 1", n)
	}

	t.Run("Revoke", func(t *testing.T) {
		at := created.Add(time.Hour)
		if err := db.RevokeAPIKey(ctx, old.ID, at); err != nil {
			t.Fatal(err)
		}
		k, err := lookupTwice(t, db, old.Hash)
		if err != nil || !k.Revoked() || !k.RevokedAt.Equal(at) {
			t.Fatalf("after revoke: %+v, %v; want revoked at %v", k, err, at)
		}
	})
	t.Run("Rotate", func(t *testing.T) {
		next := safereset.APIKey{ID: "k_new", Name: "shop", Hash: memoHash("new"), CreatedAt: created.Add(2 * time.Hour)}
		if err := db.CreateAPIKey(ctx, next); err != nil {
			t.Fatal(err)
		}
		if k, err := lookupTwice(t, db, next.Hash); err != nil || k != next {
			t.Fatalf("new key: %+v, %v", k, err)
		}
		if k, err := lookupTwice(t, db, old.Hash); err != nil || !k.Revoked() {
			t.Fatalf("old key after rotation: %+v, %v; want revoked", k, err)
		}
	})
	t.Run("RecordChangedInPlace", func(t *testing.T) {
		// Any other writer of the record (a restore, a repair) changes its
		// bytes; the memo must not hand back the old decode.
		if _, err := lookupTwice(t, db, memoHash("new")); err != nil {
			t.Fatal(err)
		}
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			return putJSON(tx.Bucket([]byte(bucketAPIKeys)), []byte("k_new"),
				apiKeyRecord{ID: "k_new", Name: "renamed", Hash: memoHash("new"), CreatedAt: created})
		})
		if err != nil {
			t.Fatal(err)
		}
		if k, err := lookupTwice(t, db, memoHash("new")); err != nil || k.Name != "renamed" || !k.CreatedAt.Equal(created) {
			t.Fatalf("after rewrite: %+v, %v; want the rewritten record", k, err)
		}
	})
	t.Run("RecordDeleted", func(t *testing.T) {
		err := db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketAPIKeys)).Delete([]byte("k_new")) })
		if err != nil {
			t.Fatal(err)
		}
		if k, err := db.APIKeyByHash(ctx, memoHash("new")); err == nil || errors.Is(err, safereset.ErrAPIKeyNotFound) {
			t.Fatalf("record gone, index kept: %+v, %v; want the inconsistency error", k, err)
		}
	})
	t.Run("KeyDeleted", func(t *testing.T) {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket([]byte(bucketAPIKeys)).Delete([]byte(old.ID)); err != nil {
				return err
			}
			return tx.Bucket([]byte(bucketAPIKeyHashes)).Delete(old.Hash[:])
		})
		if err != nil {
			t.Fatal(err)
		}
		if k, err := db.APIKeyByHash(ctx, old.Hash); !errors.Is(err, safereset.ErrAPIKeyNotFound) {
			t.Fatalf("deleted key: %+v, %v; want ErrAPIKeyNotFound", k, err)
		}
	})
	t.Run("IndexPointsElsewhere", func(t *testing.T) {
		// A hash index entry naming another key's record must not return
		// that key, remembered or not.
		a := safereset.APIKey{ID: "k_a", Name: "a", Hash: memoHash("a"), CreatedAt: created}
		if err := db.CreateAPIKey(ctx, a); err != nil {
			t.Fatal(err)
		}
		if _, err := lookupTwice(t, db, a.Hash); err != nil {
			t.Fatal(err)
		}
		stray := memoHash("stray")
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketAPIKeyHashes)).Put(stray[:], []byte(a.ID))
		}); err != nil {
			t.Fatal(err)
		}
		if k, err := db.APIKeyByHash(ctx, stray); err == nil {
			t.Fatalf("stray index entry returned %+v", k)
		}
	})
}

// TestAPIKeyMemo_Bounded: looking up more keys than the cap keeps the memo
// at the cap, and every key still reads right.
func TestAPIKeyMemo_Bounded(t *testing.T) {
	ctx := context.Background()
	db := openMemoDB(t)
	n := apiKeyMemoCap + 40
	for i := range n {
		k := safereset.APIKey{ID: fmt.Sprintf("k_%d", i), Name: fmt.Sprint(i), Hash: memoHash(fmt.Sprint(i))}
		if err := db.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		for i := range n {
			k, err := db.APIKeyByHash(ctx, memoHash(fmt.Sprint(i)))
			if err != nil || k.ID != fmt.Sprintf("k_%d", i) || k.Name != fmt.Sprint(i) {
				t.Fatalf("round %d key %d: %+v, %v", round, i, k, err)
			}
		}
		if got := db.apiKeys.len(); got > apiKeyMemoCap {
			t.Fatalf("memo holds %d keys, cap %d", got, apiKeyMemoCap)
		}
	}
}

// TestAPIKeyMemo_ConcurrentRevoke: readers look a key up without pause
// while another goroutine revokes it. Any lookup that starts after
// RevokeAPIKey returned sees the key revoked; none sees an error. Run with
// -race, this also checks the memo's locking.
func TestAPIKeyMemo_ConcurrentRevoke(t *testing.T) {
	ctx := context.Background()
	db := openMemoDB(t)
	k := safereset.APIKey{ID: "k_live", Name: "live", Hash: memoHash("live")}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	const readers = 8
	var revoked atomic.Bool
	var seenLive, seenAfter atomic.Int64
	stop := make(chan struct{})
	ready := make(chan struct{}, readers)
	errs := make(chan error, readers)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := revoked.Load()
				got, err := db.APIKeyByHash(ctx, k.Hash)
				if first {
					ready <- struct{}{}
					first = false
				}
				switch {
				case err != nil:
					errs <- err
					return
				case after && !got.Revoked():
					errs <- fmt.Errorf("lookup begun after the revoke returned saw a live key")
					return
				case after:
					seenAfter.Add(1)
				case !got.Revoked():
					seenLive.Add(1)
				}
			}
		}()
	}
	for range readers {
		<-ready // every reader has looked up at least once, so the memo is warm
	}
	if err := db.RevokeAPIKey(ctx, k.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	// Let every reader make lookups after the revoke before stopping them.
	for seenAfter.Load() < 4*readers {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if seenLive.Load() == 0 {
		t.Fatal("no lookup saw the key live: the test did not race the revoke")
	}
}
