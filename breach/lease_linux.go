package breach

import (
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// A read lease (fcntl F_SETLEASE, F_RDLCK) on the mapped file makes the
// kernel tell this process before anyone else may change the file: an
// open for writing or a truncate of the inode blocks in the kernel, the
// lease holder gets SIGIO, and the other process goes on only once the
// holder has released the lease (or after /proc/sys/fs/lease-break-time,
// 45 s by default). The watcher below marks the filter broken first and
// releases the lease after, so a lookup that could have read a changed
// word finds broken set when it checks after its read, and no lookup
// needs a system call of its own. Without a lease (the file belongs to
// another user and the process lacks CAP_LEASE, someone has it open for
// writing, a file system without leases) the guard falls back to one
// fstat after each lookup.
var leases struct {
	sync.Mutex
	held    map[*Filter]uintptr // the leased descriptor of each
	watched bool
}

// takeLease asks for a read lease on f's open file and reports whether it
// was granted. The filter is registered with the watcher before the
// request, so a break arriving right after the grant finds it.
func (f *Filter) takeLease() bool {
	if f.fh == nil {
		return false
	}
	leases.Lock()
	defer leases.Unlock()
	if !leases.watched {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, unix.SIGIO)
		go watchLeases(sig)
		leases.held = map[*Filter]uintptr{}
		leases.watched = true
	}
	fd := f.fh.Fd()
	leases.held[f] = fd
	if _, err := unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		delete(leases.held, f)
		return false
	}
	return true
}

// dropLease forgets f; closing its file releases the lease itself.
func (f *Filter) dropLease() {
	leases.Lock()
	delete(leases.held, f)
	leases.Unlock()
}

// releaseLease gives the lease up while the file stays open, so the
// guard checks the file after each lookup again (tests only need it).
func (f *Filter) releaseLease() {
	leases.Lock()
	defer leases.Unlock()
	if fd, ok := leases.held[f]; ok {
		_, _ = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK)
		delete(leases.held, f)
	}
	f.leased = false
}

// watchLeases handles SIGIO: signals coalesce and carry no file here, so
// every held lease is asked whether it is being broken (F_GETLEASE no
// longer answers F_RDLCK once a break is pending or the kernel has
// revoked it).
func watchLeases(sig <-chan os.Signal) {
	for range sig {
		leases.Lock()
		for f, fd := range leases.held {
			t, err := unix.FcntlInt(fd, unix.F_GETLEASE, 0)
			if err == nil && t == unix.F_RDLCK {
				continue
			}
			f.broken.Store(true) // before the release lets the writer go on
			_, _ = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK)
			delete(leases.held, f)
		}
		leases.Unlock()
	}
}
