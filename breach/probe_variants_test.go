package breach

import (
	"encoding/binary"
	"unsafe"
)

// Other orders of touching the k words, compared with prefetchEarly and
// bloom's Test by BenchmarkProbeAB; kept here, in the tests, because the
// measurements chose prefetchEarly.

// early tests the bits in order and stops at the first clear one, as
// bloom's Test does.
func (p *probe) early(key *[20]byte) bool {
	var pos [maxK]uint64
	p.positions(key, &pos)
	w := p.words
	for _, q := range pos[:p.k] {
		if w[q>>6]&(1<<(q&63)) == 0 {
			return false
		}
	}
	return true
}

// gather loads all k words before looking at any bit, with no branch
// between the loads, and combines the bits.
func (p *probe) gather(key *[20]byte) bool {
	var pos [maxK]uint64
	p.positions(key, &pos)
	w := p.words
	all := uint64(1)
	for _, q := range pos[:p.k] {
		all &= w[q>>6] >> (q & 63)
	}
	return all&1 == 1
}

// firstThenGather tests the first position alone (a non-member of a
// half-full filter fails it half the time) and gathers the rest.
func (p *probe) firstThenGather(key *[20]byte) bool {
	var pos [maxK]uint64
	p.positions(key, &pos)
	w := p.words
	if q := pos[0]; w[q>>6]&(1<<(q&63)) == 0 {
		return false
	}
	all := uint64(1)
	for _, q := range pos[1:p.k] {
		all &= w[q>>6] >> (q & 63)
	}
	return all&1 == 1
}

// Other v2 probes, compared with containsBlocked by BenchmarkProbeBlocked
// and held to its answers by TestContainsBlocked_SameAnswers.

// blockedPrefetchEarly prefetches the block (an assembly call), computes
// the offsets while the line comes, then tests the bits in order with an
// early exit.
func (p *probe) blockedPrefetchEarly(key *[20]byte) bool {
	b := blockOf(key, p.blocks) * blockWords
	w := p.words[b : b+blockWords : b+blockWords]
	first := b * 64
	prefetchWords(unsafe.Pointer(&p.words[0]), &first, 1)
	var off [maxK]uint64
	blockedOffsets(key, p.k, &off)
	for _, q := range off[:p.k] {
		if w[q>>6]&(1<<(q&63)) == 0 {
			return false
		}
	}
	return true
}

// blockedOffsetsAnd computes the offsets into an array first (a call),
// then AND-accumulates the k bits.
func (p *probe) blockedOffsetsAnd(key *[20]byte) bool {
	b := blockOf(key, p.blocks) * blockWords
	return blockedAll(key, p.k, (*[blockWords]uint64)(p.words[b:b+blockWords]))
}

// blockedPrefetchAnd is blockedOffsetsAnd with the prefetch call of
// blockedPrefetchEarly before the offsets.
func (p *probe) blockedPrefetchAnd(key *[20]byte) bool {
	b := blockOf(key, p.blocks) * blockWords
	w := (*[blockWords]uint64)(p.words[b : b+blockWords])
	first := b * 64
	prefetchWords(unsafe.Pointer(&p.words[0]), &first, 1)
	var off [maxK]uint64
	blockedOffsets(key, p.k, &off)
	all := uint64(1)
	for _, q := range off[:p.k] {
		all &= w[(q>>6)&(blockWords-1)] >> (q & 63)
	}
	return all&1 != 0
}

// blockedLoadFirst issues the load of position 0's word (the low nine bits
// of bytes 8..15) before it computes the other offsets, then
// AND-accumulates the rest.
func (p *probe) blockedLoadFirst(key *[20]byte) bool {
	b := blockOf(key, p.blocks) * blockWords
	w := (*[blockWords]uint64)(p.words[b : b+blockWords])
	w0 := binary.BigEndian.Uint64(key[8:16])
	all := w[(w0>>6)&(blockWords-1)] >> (w0 & 63)
	var off [maxK]uint64
	blockedOffsets(key, p.k, &off)
	for _, q := range off[1:p.k] {
		all &= w[(q>>6)&(blockWords-1)] >> (q & 63)
	}
	return all&1 != 0
}
