//go:build !unix

package breach

import (
	"io"
	"os"
)

// mapFile reads the file into memory where mmap is not available.
func mapFile(f *os.File, size int64) ([]byte, func([]byte) error, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, nil, err
	}
	return b, func([]byte) error { return nil }, nil
}

// allocWords returns n zeroed words from the Go heap.
func allocWords(n uint64) ([]uint64, func(), error) {
	return make([]uint64, n), func() {}, nil
}

// allocBytes returns n zeroed bytes from the Go heap.
func allocBytes(n uint64) ([]byte, func(), error) {
	return make([]byte, n), func() {}, nil
}
