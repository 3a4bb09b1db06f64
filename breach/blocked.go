package breach

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Format version 2, the blocked layout (FORMAT.md): the filter is an array
// of 512-bit blocks, one 64-byte cache line each, and all k bits of a key
// lie in one block. A member lookup then reads one cache line instead of k
// (the cost of a lookup on a multi-GiB filter is its cache and TLB misses,
// not its arithmetic). The price is a somewhat higher false-positive rate
// for the same bits, because block loads vary (Poisson); the builder sizes
// for it with blockedFPR.
//
// The key is the raw SHA-1, which is already uniform, so its bits are used
// directly and no further hash is needed for k ≤ 10:
//   - bytes 0..7 (big-endian) pick the block, reduced to [0, blocks) by
//     multiply-high (Lemire's fastrange), which uses the top bits;
//   - bytes 8..15 (big-endian, w0) give positions 0..6, nine bits each from
//     the low end (63 bits); bytes 16..19 (w1) give positions 7..9 (27 bits);
//   - positions 10..37, for small target rates, come nine bits at a time (7
//     per word) from bloom/v3's four murmur3 hashes of the key, which are
//     independent of the raw SHA-1 bits.
const (
	// FormatV1 is the bloom/v3 layout: k bits anywhere in m.
	FormatV1 = 1
	// FormatV2 is the blocked layout: k bits in one 512-bit block.
	FormatV2 = 2

	blockBits  = 512
	blockWords = blockBits / 64
	// maxKBlocked is how many 9-bit positions the key's bits provide:
	// 10 from the SHA-1 after the block index, 28 from the murmur hashes.
	maxKBlocked = 10 + 4*7
)

// blockOf returns the block of key among blocks.
func blockOf(key *[20]byte, blocks uint64) uint64 {
	hi, _ := bits.Mul64(binary.BigEndian.Uint64(key[0:8]), blocks)
	return hi
}

// blockedOffsets fills off[:k] with the key's bit offsets within its block.
func blockedOffsets(key *[20]byte, k uint64, off *[maxK]uint64) {
	w0 := binary.BigEndian.Uint64(key[8:16])
	w1 := uint64(binary.BigEndian.Uint32(key[16:20]))
	n := min(k, 10)
	for i := range n {
		if i < 7 {
			off[i] = (w0 >> (9 * i)) & (blockBits - 1)
		} else {
			off[i] = (w1 >> (9 * (i - 7))) & (blockBits - 1)
		}
	}
	if k <= 10 {
		return
	}
	h := baseHashes20(key)
	for i := uint64(10); i < k; i++ {
		j := i - 10
		off[i] = (h[j/7] >> (9 * (j % 7))) & (blockBits - 1)
	}
}

// blockedPositions fills pos[:k] with the key's bit positions in a blocked
// filter of blocks blocks.
func blockedPositions(key *[20]byte, blocks, k uint64, pos *[maxK]uint64) {
	base := blockOf(key, blocks) * blockBits
	blockedOffsets(key, k, pos)
	for i := range k {
		pos[i] += base
	}
}

// containsBlocked is the v2 membership test: the k bits of one cache line,
// AND-accumulated without a branch, so there is no early-exit branch to
// mispredict (for a non-member of a half-full block each bit test is a
// coin flip). For k ≤ 10 the bit offsets are shifts of two words of the
// key, computed in registers next to the loads, so the line is requested
// a few instructions after the block index is known, with no prefetch
// call and no offsets array in between; all k loads go to that one line.
// BenchmarkProbeBlocked measures it against the early-exit probe with a
// prefetch and the other variants in probe_variants_test.go: as fast as
// the prefetching probe, faster than offsets computed first, and on a
// full-size filter a lookup with nothing to overlap it costs one memory
// access (BENCHMARKS.md).
func (p *probe) containsBlocked(key *[20]byte) bool {
	b := blockOf(key, p.blocks) * blockWords
	w := (*[blockWords]uint64)(p.words[b : b+blockWords])
	if p.k > 10 {
		return blockedAll(key, p.k, w)
	}
	w0 := binary.BigEndian.Uint64(key[8:16])
	all := uint64(1)
	for i := range min(p.k, 7) {
		q := w0 >> (9 * i)
		all &= w[(q>>6)&(blockWords-1)] >> (q & 63)
	}
	if p.k > 7 {
		w1 := uint64(binary.BigEndian.Uint32(key[16:20]))
		for i := range p.k - 7 {
			q := w1 >> (9 * i)
			all &= w[(q>>6)&(blockWords-1)] >> (q & 63)
		}
	}
	return all&1 != 0
}

// blockedAll reports whether all k bits of key are set in its block w,
// for any k (the offsets past the tenth come from the murmur hashes).
func blockedAll(key *[20]byte, k uint64, w *[blockWords]uint64) bool {
	var off [maxK]uint64
	blockedOffsets(key, k, &off)
	all := uint64(1)
	for _, q := range off[:k] {
		all &= w[(q>>6)&(blockWords-1)] >> (q & 63)
	}
	return all&1 != 0
}

// blockedFPR is the false-positive rate of a blocked filter of blocks
// 512-bit blocks with k positions per key after n keys: a non-member's
// block holds j keys with probability Poisson(j; n/blocks), and with j keys
// in it each bit is set with probability 1-(1-1/512)^(kj), so
//
//	FPR = Σ_j Poisson(j; λ) · (1 - (1-1/512)^(kj))^k.
//
// (It treats the k bits of a block as independent, as the classic formula
// does for the whole filter; the empirical test measures the built filter.)
func blockedFPR(blocks, k, n uint64) float64 {
	if blocks == 0 {
		return 1
	}
	if n == 0 {
		return 0
	}
	lambda := float64(n) / float64(blocks)
	sd := math.Sqrt(lambda)
	lo := max(0, math.Floor(lambda-12*sd-12))
	hi := math.Ceil(lambda + 12*sd + 12)
	q := math.Log1p(-1.0 / blockBits)
	kf := float64(k)
	var sum float64
	for j := lo; j <= hi; j++ {
		lg, _ := math.Lgamma(j + 1)
		p := math.Exp(j*math.Log(lambda) - lambda - lg)
		if j == 0 {
			p = math.Exp(-lambda)
		}
		fill := -math.Expm1(kf * j * q)
		sum += p * math.Pow(fill, kf)
	}
	return sum
}

// blockedParameters returns the number of blocks and the k of the smallest
// blocked filter whose blockedFPR at n keys is at most fpr.
func blockedParameters(n uint64, fpr float64) (blocks, k uint64) {
	n = max(n, 1)
	// Start every search at the size of a classic filter for n and fpr,
	// -n ln p / (ln 2)² bits: the blocked answer is near it, and the sum
	// over block loads is cheap there (it grows with the keys per block).
	start := uint64(math.Ceil(-float64(n) * math.Log(fpr) / (math.Ln2 * math.Ln2) / blockBits))
	start = min(max(start, 1), maxBits/blockBits)
	for kk := uint64(1); kk <= maxKBlocked; kk++ {
		b := blocksFor(n, kk, fpr, start)
		if blocks == 0 || b < blocks {
			blocks, k = b, kk
		}
	}
	return blocks, k
}

// blocksFor is the fewest blocks with blockedFPR(blocks, k, n) ≤ fpr,
// searched from start.
func blocksFor(n, k uint64, fpr float64, start uint64) uint64 {
	lo, hi := uint64(0), start // blockedFPR(lo) > fpr or lo = 0; blockedFPR(hi) ≤ fpr
	for blockedFPR(hi, k, n) > fpr {
		if hi > maxBits/blockBits {
			return hi
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if blockedFPR(mid, k, n) <= fpr {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// blockedSizedFor is the largest n at which the blocked filter's
// blockedFPR is still within its target: the n it was sized for.
func blockedSizedFor(h Header) uint64 {
	if !(h.TargetFPR > 0 && h.TargetFPR < 1) {
		return math.MaxUint64
	}
	blocks := h.M / blockBits
	lo, hi := uint64(0), h.M+1 // more keys than bits never meets a target < 1
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if blockedFPR(blocks, h.K, mid) <= h.TargetFPR {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}
