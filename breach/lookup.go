package breach

import "unsafe"

// probe is the membership test on the mapped words. It computes bloom/v3's
// k bit positions itself (the same positions, tested against bloom's Test)
// and asks the CPU for all k words before it looks at the first one. A
// member needs every one of the k words; loaded one after another behind
// the branch on the previous bit, at full size each is its own DRAM (and
// often TLB) miss. Prefetched together, the misses overlap and a member
// costs about one memory latency, while a non-member still returns at its
// first clear bit.
type probe struct {
	words []uint64
	mod   modulus
	k     uint64
}

func newProbe(words []uint64, m, k uint64) probe {
	return probe{words: words, mod: newModulus(m), k: k}
}

func (p *probe) contains(key *[20]byte) bool {
	h := baseHashes20(key)
	var pos [maxK]uint64
	k := min(p.k, maxK)
	for i := range k {
		pos[i] = p.mod.mod(location(&h, i))
	}
	words := p.words
	if len(words) == 0 {
		return false
	}
	prefetchWords(unsafe.Pointer(&words[0]), &pos[0], int(k))
	for _, q := range pos[:k] {
		if words[q>>6]&(1<<(q&63)) == 0 {
			return false
		}
	}
	return true
}
