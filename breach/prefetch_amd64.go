package breach

import "unsafe"

// prefetchWords hints the CPU to load the words holding bits pos[:k] of
// the bit array at base (PREFETCHT0); it never faults.
//
//go:noescape
func prefetchWords(base unsafe.Pointer, pos *uint64, k int)
