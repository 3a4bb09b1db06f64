package breach

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
