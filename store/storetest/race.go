package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/safereset/safereset"
)

// race runs fn(0) … fn(n-1) in n goroutines released together by closing
// one channel, so the calls overlap as much as the scheduler allows, and
// returns each call's error by index.
func race(n int, fn func(i int) error) []error {
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one of the raced single-use calls
// succeeded and every other one failed with ErrTokenInvalid, and returns
// the winner's index. what names the effect in failure messages ("reset
// the password").
func oneWinner(t *testing.T, errs []error, what string) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("goroutines %d and %d both %s", winner, i, what)
		case err == nil:
			winner = i
		case !errors.Is(err, safereset.ErrTokenInvalid):
			t.Errorf("goroutine %d: err = %v, want ErrTokenInvalid", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no goroutine %s", what)
	}
	return winner
}
