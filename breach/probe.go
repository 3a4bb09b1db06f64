package breach

import "unsafe"

// probe is the membership test on the filter words. It computes bloom/v3's
// k bit positions itself (baseHashes20, location and the division-free
// modulus: the same positions, tested against bloom's Test) and asks the
// CPU for all k words before it tests the first bit. bloom's Test loads
// word i+1 only once the branch on bit i is predicted past: for a member
// (every bit set, the branch always taken) the CPU runs ahead and overlaps
// the k misses anyway, but for a non-member the branch goes either way and
// every mispredicted probe waits for the load before it. Prefetched, a
// non-member's misses overlap too and it still returns at its first clear
// bit. A member still touches k cache lines where a non-member touches
// about two; only a layout that puts a key's k bits in one cache line
// removes that (BenchmarkProbeAB measures both, against other orders):
// version 2 files are that layout, tested by containsBlocked (blocked.go).
type probe struct {
	words []uint64
	mod   modulus
	k     uint64
	// blocks is the number of 512-bit blocks of a v2 (blocked) filter, 0
	// for v1.
	blocks uint64
}

func newProbe(words []uint64, h Header) probe {
	p := probe{words: words, mod: newModulus(h.M), k: min(h.K, maxK)}
	if h.Version == FormatV2 {
		p.blocks = h.M / blockBits
	}
	return p
}

// positions fills pos with the k bit positions of key.
func (p *probe) positions(key *[20]byte, pos *[maxK]uint64) {
	if p.blocks != 0 {
		blockedPositions(key, p.blocks, p.k, pos)
		return
	}
	h := baseHashes20(key)
	for i := range p.k {
		pos[i] = p.mod.mod(location(&h, i))
	}
}

// contains is the test ContainsSHA1 and Lookup use.
// A released filter's probe has no words and contains nothing.
func (p *probe) contains(key *[20]byte) bool {
	if len(p.words) == 0 {
		return false
	}
	if p.blocks != 0 {
		return p.containsBlocked(key)
	}
	return p.prefetchEarly(key)
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
