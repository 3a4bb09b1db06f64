//go:build !amd64

package breach

import "unsafe"

// prefetchWords is a no-op where no prefetch instruction is wired up.
func prefetchWords(base unsafe.Pointer, pos *uint64, k int) {}
