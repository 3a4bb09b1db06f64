package testclock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/safereset/safereset/internal/testclock"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	c := testclock.New(t0)
	if !c.Now().Equal(t0) {
		t.Fatalf("Now = %v, want %v", c.Now(), t0)
	}
	c.Advance(90 * time.Second)
	if want := t0.Add(90 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("after Advance: %v, want %v", c.Now(), want)
	}
	c.Set(t0.Add(-time.Hour))
	if want := t0.Add(-time.Hour); !c.Now().Equal(want) {
		t.Fatalf("after Set: %v, want %v", c.Now(), want)
	}
	// Concurrent use is safe (run with -race) and loses no Advance.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if want := t0.Add(-time.Hour + 800*time.Second); !c.Now().Equal(want) {
		t.Fatalf("after concurrent Advance: %v, want %v", c.Now(), want)
	}
}
