package breach

import (
	"math/bits"
	"sync/atomic"

	"github.com/bits-and-blooms/bloom/v3"
)

// The fast builder sorts bit positions by "block" of the filter before
// setting them: while hashing, a worker appends each position to its
// block's bucket; at the end of a round, each worker sets the bits of its
// own blocks, bucket by bucket, so its writes stay inside one block (2 MiB,
// a core's L2 cache) at a time instead of missing the cache on every bit of
// a multi-GiB filter. The workers own disjoint blocks, so no bit is written
// by two at once. (A two-level variant, 64 large blocks then a counting
// sort into 256 KiB regions, measured slower: the extra pass over every
// position cost more than the cheaper appends saved.)

// blockShift sets the block size: 2^24 bits = 2 MiB.
const blockShift = 24

// layout describes how bit positions are split into blocks and regions.
type layout struct {
	m, k       uint64
	mod        modulus
	blockShift uint // block = position >> blockShift
	blockMask  uint64
	blocks     uint64
	// cacheBlocks is the number of 512-bit blocks of a version 2 (blocked)
	// filter, whose positions are blockedPositions; 0 for version 1.
	cacheBlocks uint64
}

func newLayout(m, k uint64) layout { return newLayoutShift(m, k, blockShift) }

func newLayoutShift(m, k uint64, shift uint) layout {
	// A block is at least one word, at most the filter.
	shift = min(max(shift, 6), uint(max(bits.Len64(m-1), 6)))
	return layout{
		m: m, k: k, mod: newModulus(m),
		blockShift: shift,
		blockMask:  1<<shift - 1,
		blocks:     (m + 1<<shift - 1) >> shift,
	}
}

// regionSink is one worker's buffer of pending bit positions, bucketed by
// block: positions of block b are buf[b*per : b*per+cnt[b]], as 32-bit
// offsets within the block.
type regionSink struct {
	l     layout
	words []uint64
	buf   []uint32
	cnt   []uint32
	per   uint32 // capacity of one block's bucket
	keys  uint64 // keys added since the last apply
	pos   [batchKeys * maxK]uint64
}

func newRegionSink(l layout, words []uint64, entries uint64) *regionSink {
	per := max(entries/l.blocks, 64)
	return &regionSink{
		l:     l,
		words: words,
		buf:   make([]uint32, per*l.blocks),
		cnt:   make([]uint32, l.blocks),
		per:   uint32(per),
	}
}

// batchKeys is how many keys addBatch hashes before it scatters their
// positions: separating the two tight loops lets the CPU overlap the
// hashing arithmetic instead of stalling on the bucket stores.
const batchKeys = 32

// addBatch computes the k positions of each key, bloom/v3's locations, and
// queues them in their blocks' buckets.
func (s *regionSink) addBatch(keys [][20]byte) {
	l := &s.l
	pos := &s.pos
	for len(keys) > 0 {
		n := min(len(keys), batchKeys)
		np := 0
		mod := l.mod
		if l.cacheBlocks != 0 {
			var kp [maxK]uint64
			for i := range keys[:n] {
				blockedPositions(&keys[i], l.cacheBlocks, l.k, &kp)
				np += copy(pos[np:], kp[:l.k])
			}
		} else {
			for i := range keys[:n] {
				h := baseHashes20(&keys[i])
				for j := uint64(0); j < l.k; j++ {
					pos[np] = mod.mod(location(&h, j))
					np++
				}
			}
		}
		shift, mask, per := l.blockShift, l.blockMask, uint64(s.per)
		buf, cnt := s.buf, s.cnt
		for _, p := range pos[:np] {
			b := p >> shift
			c := uint64(cnt[b])
			if c == per {
				s.flushAtomic(b)
				c = 0
			}
			buf[per*b+c] = uint32(p & mask)
			cnt[b] = uint32(c + 1)
		}
		s.keys += uint64(n)
		keys = keys[n:]
	}
}

// flushAtomic sets the bits of one full bucket while other workers may be
// doing the same in the same block: rare (the buckets are sized with room
// to spare), so atomics are fine here.
func (s *regionSink) flushAtomic(b uint64) {
	base := b << (s.l.blockShift - 6)
	start := uint64(s.per) * b
	for _, off := range s.buf[start : start+uint64(s.cnt[b])] {
		atomic.OrUint64(&s.words[base+uint64(off>>6)], 1<<(off&63))
	}
	s.cnt[b] = 0
}

// applyBlocks sets the queued bits of blocks [from, to) from every sink
// and empties those buckets. Workers apply disjoint block ranges, so plain
// writes are safe.
func applyBlocks(sinks []*regionSink, from, to uint64) {
	for b := from; b < to; b++ {
		for _, s := range sinks {
			w := s.words[b<<(s.l.blockShift-6):]
			start := uint64(s.per) * b
			for _, off := range s.buf[start : start+uint64(s.cnt[b])] {
				w[off>>6] |= 1 << (off & 63)
			}
			s.cnt[b] = 0
		}
	}
}

// simpleSink inserts one key at a time with bloom/v3's own Add: the
// baseline the fast builder is measured against.
type simpleSink struct{ bf *bloom.BloomFilter }

func (s simpleSink) addBatch(keys [][20]byte) {
	for i := range keys {
		s.bf.Add(keys[i][:])
	}
}

// simpleBlockedSink is simpleSink for the blocked layout: one key at a
// time, its k bits set in place.
type simpleBlockedSink struct {
	words     []uint64
	blocks, k uint64
}

func (s simpleBlockedSink) addBatch(keys [][20]byte) {
	var pos [maxK]uint64
	for i := range keys {
		blockedPositions(&keys[i], s.blocks, s.k, &pos)
		for _, q := range pos[:s.k] {
			s.words[q>>6] |= 1 << (q & 63)
		}
	}
}
