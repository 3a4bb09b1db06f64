package breach

import "unsafe"

// probe is the membership test on the filter words, computing bloom/v3's
// k bit positions itself (baseHashes20, location, and the division-free
// modulus; the same positions, tested against bloom's Test). The variants
// below differ only in the order in which they touch memory; which one
// ContainsSHA1 uses is decided by BenchmarkProbeAB on a full-size filter.
type probe struct {
	words []uint64
	mod   modulus
	k     uint64
}

func newProbe(words []uint64, m, k uint64) probe {
	return probe{words: words, mod: newModulus(m), k: min(k, maxK)}
}

// positions fills pos with the k bit positions of key.
func (p *probe) positions(key *[20]byte, pos *[maxK]uint64) {
	h := baseHashes20(key)
	for i := range p.k {
		pos[i] = p.mod.mod(location(&h, i))
	}
}

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

// prefetchEarly asks the CPU for all k words (PREFETCHT0) and then tests
// them in order with an early exit.
func (p *probe) prefetchEarly(key *[20]byte) bool {
	var pos [maxK]uint64
	p.positions(key, &pos)
	w := p.words
	prefetchWords(unsafe.Pointer(&w[0]), &pos[0], int(p.k))
	for _, q := range pos[:p.k] {
		if w[q>>6]&(1<<(q&63)) == 0 {
			return false
		}
	}
	return true
}
