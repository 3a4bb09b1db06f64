package loadgen

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleepFor waits d in a nanosleep on this goroutine's thread. time.Sleep
// would park the goroutine on the runtime's timers, and with every P idle
// the runtime waits for the next timer in epoll_wait, whose timeout is in
// whole milliseconds: a sub-millisecond sleep then lasts up to a
// millisecond more, which an open loop would count as latency of the
// server. nanosleep is held to the thread's timer slack (50 µs by
// default). The thread is blocked meanwhile; the runtime lends its P out.
func sleepFor(d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	for {
		var rem unix.Timespec
		if err := unix.Nanosleep(&ts, &rem); err != unix.EINTR {
			return
		}
		ts = rem
	}
}
