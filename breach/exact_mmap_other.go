//go:build !unix

package breach

import "os"

// mapExact reads the store into memory where mmap is not available.
func mapExact(f *os.File, size int64) ([]byte, func([]byte) error, error) {
	return mapFile(f, size)
}
