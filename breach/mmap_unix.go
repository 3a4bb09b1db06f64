//go:build unix

package breach

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f read-only and shared, so every process that
// maps the same filter shares one copy in the page cache. It asks the kernel
// to start reading the whole file in the background (MADV_WILLNEED), so the
// first checks do not each wait for a disk read.
func mapFile(f *os.File, size int64) ([]byte, func([]byte) error, error) {
	if size == 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("cannot map %d bytes", size)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap: %w", err)
	}
	// Advice only; failure changes nothing. MADV_HUGEPAGE first, so that
	// the read-ahead MADV_WILLNEED starts fills the page cache with 2 MiB
	// folios, which the kernel then maps with 2 MiB page-table entries
	// where the filesystem supports large folios (ext4, xfs): at full size
	// every probe of a 4 KiB mapping also misses the TLB.
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	_ = unix.Madvise(b, unix.MADV_WILLNEED)
	return b, unix.Munmap, nil
}

// allocWords returns n zeroed words of anonymous memory, backed by huge
// pages where the kernel allows it: the builder writes all over the filter,
// and 2 MiB pages save most of the TLB misses that 4 KiB pages would cost.
func allocWords(n uint64) ([]uint64, func(), error) {
	if n == 0 || n*8/8 != n {
		return nil, nil, fmt.Errorf("cannot allocate %d words", n)
	}
	b, free, err := allocBytes(n * 8)
	if err != nil {
		return nil, nil, err
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n), free, nil
}

// allocBytes returns n zeroed bytes of page-aligned anonymous memory,
// backed by huge pages where the kernel allows it.
func allocBytes(n uint64) ([]byte, func(), error) {
	size := int(n)
	if uint64(size) != n || size <= 0 {
		return nil, nil, fmt.Errorf("cannot allocate %d bytes", n)
	}
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, nil, fmt.Errorf("allocate %d MiB: %w", size>>20, err)
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // advice only
	return b, func() { _ = unix.Munmap(b) }, nil
}
