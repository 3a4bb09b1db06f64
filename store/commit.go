package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// errClosed is returned by writes that reach a closed DB.
var errClosed = errors.New("store: database is closed")

// maxGroup bounds how many calls share one write transaction, so one
// commit stays short even when thousands of requests are waiting.
const maxGroup = 256

// committer is group commit for the calls that come in floods (token
// requests and the outbox worker's updates): calls that arrive while a
// transaction is committing are queued and then applied together in the
// next one, which pays one fsync for all of them. There is no timer: a
// lone call commits at once, and under load the group grows to whatever
// arrived during the previous fsync. Each call still returns only after
// the transaction holding its change is committed, so an acknowledged
// change is as durable as with its own transaction.
type committer struct {
	bolt *bolt.DB
	reqs chan *commitReq
	done chan struct{}

	mu     sync.RWMutex // held for reading while sending on reqs
	closed bool
}

type commitReq struct {
	fn  func(*bolt.Tx) error
	err chan error // buffered: the committer never blocks on a caller
}

func newCommitter(b *bolt.DB) *committer {
	c := &committer{bolt: b, reqs: make(chan *commitReq, maxGroup), done: make(chan struct{})}
	go c.run()
	return c
}

// do runs fn in a write transaction shared with other calls and returns
// once it is committed. fn may be run twice (see commit), so it must set
// every result it returns afresh. ctx is checked only before fn is
// queued: once queued, the change may commit, and do waits to report it.
func (c *committer) do(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &commitReq{fn: fn, err: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	c.reqs <- r
	c.mu.RUnlock()
	return <-r.err
}

// close commits what is queued and stops the committer.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	group := make([]*commitReq, 0, maxGroup)
	for first := range c.reqs {
		group = append(group[:0], first)
	more:
		for len(group) < maxGroup {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		c.commit(group)
		clear(group)
	}
}

// commit applies the group in one transaction. When any call fails the
// whole transaction is rolled back and every call is run again in a
// transaction of its own, so a call sees only its own error and the
// others' changes are kept.
func (c *committer) commit(group []*commitReq) {
	err := c.bolt.Update(func(tx *bolt.Tx) error {
		for _, r := range group {
			if err := safeCall(r.fn, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(group) == 1 {
		for _, r := range group {
			r.err <- err
		}
		return
	}
	for _, r := range group {
		r.err <- c.bolt.Update(func(tx *bolt.Tx) error { return safeCall(r.fn, tx) })
	}
}

// safeCall turns a panic in fn into an error: fn runs on the committer's
// goroutine, where a panic would end the process instead of one request.
func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in write transaction: %v", p)
		}
	}()
	return fn(tx)
}
