//go:build unix

package breach

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapExact maps an exact store read-only and shared. Unlike the filter,
// whose every page is hot, a store is mostly cold: it asks the kernel to
// read ahead only the prefix index (8 MiB, touched by every lookup), and
// leaves the records to ordinary read-around on fault, which brings in a
// whole prefix's records (about 21 KiB at full size) with one disk read.
func mapExact(f *os.File, size int64) ([]byte, func([]byte) error, error) {
	if size < exactRecordsOff || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("cannot map %d bytes", size)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	_ = unix.Madvise(b[:exactRecordsOff], unix.MADV_WILLNEED) // advice only
	return b, unix.Munmap, nil
}
