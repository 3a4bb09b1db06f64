package breach

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"
)

// ErrFileChanged is returned when the filter file was truncated, rewritten
// or otherwise changed in place while it was mapped. The mapping can no
// longer be trusted (a read past a truncated end faults, rewritten words
// answer for another filter), so every check on it fails until a valid file
// is loaded: put one in place by rename and reload.
var ErrFileChanged = errors.New("breach: filter file changed in place while mapped; put a valid file in place by rename and reload")

// fileStamp is what changes when a mapped file is written to in place.
// Renaming another file over the path changes none of it (the mapping
// keeps the old inode, which stays valid); the inode change time is left
// out because that unlink moves it.
type fileStamp struct {
	size  int64
	mtime time.Time
}

func stampOf(fi os.FileInfo) fileStamp {
	return fileStamp{size: fi.Size(), mtime: fi.ModTime()}
}

func (s fileStamp) same(o fileStamp) bool { return s.size == o.size && s.mtime.Equal(o.mtime) }

// faulted reports whether the mapping is known bad, checking the open file
// and the mapped header for an in-place change: the header catches a
// rewrite that lands within the file system's timestamp granularity. It
// reads the mapping, so it runs under guard, except on a filter that is
// already broken. In-memory filters never change.
func (f *Filter) faulted() error {
	if f.broken.Load() {
		return ErrFileChanged
	}
	if f.fh == nil || f.leased {
		return nil // in memory, or a change would have set broken first
	}
	fi, err := f.fh.Stat()
	if err != nil {
		f.broken.Store(true)
		return fmt.Errorf("%w: %v", ErrFileChanged, err)
	}
	if !stampOf(fi).same(f.stamp) || !bytes.Equal(f.data[:HeaderSize], f.head) {
		f.broken.Store(true)
		return ErrFileChanged
	}
	return nil
}

// guard runs fn, which reads the mapping, and turns a memory fault (SIGBUS
// from a page past a truncated end) into ErrFileChanged instead of a crash
// of the whole process. It checks the file after fn: a write that changed
// the words under fn updates the file's times before the new bytes become
// visible, so a lookup that saw them is not trusted. A change made before
// fn is still there after it, so one check (one fstat, a system call and
// most of a lookup's cost) covers both. Under a read lease (lease_linux.go)
// the check is the broken flag alone: the lease's watcher sets it before
// any other process may open the file for writing or truncate it.
func (f *Filter) guard(fn func()) (err error) {
	if f.broken.Load() {
		return ErrFileChanged
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			f.broken.Store(true)
			err = ErrFileChanged
		}
	}()
	fn()
	return f.faulted()
}

// Lookup reports whether the raw 20-byte SHA-1 digest is (probably) in the
// filter, or ErrFileChanged when the mapped file changed under it. The
// caller must keep f open during the call.
func (f *Filter) Lookup(sum [20]byte) (found bool, err error) {
	err = f.guard(func() { found = f.probe.contains(&sum) })
	if err != nil {
		return false, err
	}
	return found, nil
}

// Guard names how an in-place change of the file is caught: "lease",
// "stat" or "memory" (safereset.FilterInfo.Guard).
func (f *Filter) Guard() string {
	switch {
	case f.fh == nil:
		return "memory"
	case f.leased:
		return "lease"
	}
	return "stat"
}

// check reports why the filter cannot be used (ErrFileChanged), or nil.
func (f *Filter) check() error { return f.guard(func() {}) }
