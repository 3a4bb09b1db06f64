package breach

import (
	"math/bits"
	"sync/atomic"

	"github.com/bits-and-blooms/bloom/v3"
)

// regionShift sets the size of the filter regions the fast builder sorts
// bit positions into: 2^22 bits = 512 KiB, which stays in a core's L2
// cache while its bits are set.
const regionShift = 22

// layout describes how bit positions are split into regions.
type layout struct {
	m, k    uint64
	shift   uint   // region = position >> shift
	mask    uint64 // offset in region = position & mask
	regions uint64
}

func newLayout(m, k uint64) layout {
	shift := uint(regionShift)
	if m <= 1<<regionShift {
		shift = uint(max(6, bits.Len64(m-1))) // one region; whole words
	}
	return layout{m: m, k: k, shift: shift, mask: 1<<shift - 1, regions: (m + 1<<shift - 1) >> shift}
}

// regionSink is one worker's buffer of pending bit positions, sorted by
// region as they are computed: positions of region r are appended to
// buf[r*per : r*per+cnt[r]] as 32-bit offsets within the region. Applying
// a region then writes into 512 KiB of the filter only, in cache, instead
// of missing the cache on every bit of a multi-GiB filter.
type regionSink struct {
	l     layout
	words []uint64
	buf   []uint32
	cnt   []uint32
	per   uint32 // capacity of one region's buffer
	keys  uint64 // keys added since the last apply
}

func newRegionSink(l layout, words []uint64, entries uint64) *regionSink {
	per := max(entries/l.regions, 64)
	return &regionSink{
		l:     l,
		words: words,
		buf:   make([]uint32, per*l.regions),
		cnt:   make([]uint32, l.regions),
		per:   uint32(per),
	}
}

// add computes the k positions of key, bloom/v3's locations, and queues them.
func (s *regionSink) add(key *[20]byte) {
	h := baseHashes20(key)
	l := &s.l
	for i := uint64(0); i < l.k; i++ {
		pos := location(&h, i) % l.m
		r := pos >> l.shift
		c := s.cnt[r]
		if c == s.per {
			s.flushAtomic(r)
			c = 0
		}
		s.buf[uint64(s.per)*r+uint64(c)] = uint32(pos & l.mask)
		s.cnt[r] = c + 1
	}
	s.keys++
}

// flushAtomic applies one full region buffer while other workers may be
// doing the same to the same region: rare, so atomics are fine here.
func (s *regionSink) flushAtomic(r uint64) {
	base := r << (s.l.shift - 6)
	start := uint64(s.per) * r
	for _, off := range s.buf[start : start+uint64(s.cnt[r])] {
		atomic.OrUint64(&s.words[base+uint64(off>>6)], 1<<(off&63))
	}
	s.cnt[r] = 0
}

// applyRegions sets the queued bits of regions [from, to) of every sink.
// Workers apply disjoint region ranges, so plain writes are safe.
func applyRegions(sinks []*regionSink, from, to uint64) {
	for r := from; r < to; r++ {
		for _, s := range sinks {
			base := r << (s.l.shift - 6)
			start := uint64(s.per) * r
			w := s.words
			for _, off := range s.buf[start : start+uint64(s.cnt[r])] {
				w[base+uint64(off>>6)] |= 1 << (off & 63)
			}
			s.cnt[r] = 0
		}
	}
}

// simpleSink inserts one key at a time with bloom/v3's own Add: the
// baseline the fast builder is measured against.
type simpleSink struct{ bf *bloom.BloomFilter }

func (s simpleSink) add(key *[20]byte) { s.bf.Add(key[:]) }
