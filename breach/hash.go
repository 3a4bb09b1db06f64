package breach

import (
	"encoding/binary"
	"math/bits"
)

// The bit locations of a key are those of bloom/v3: four 64-bit murmur3
// values (murmur3-128 of the key, then of the key with a 0x01 byte
// appended), combined as in bloom's location function. locations20 is that
// computation unrolled for a 20-byte key (one 16-byte block and a 4-byte
// tail), so the builder can compute locations without allocating. The
// equivalence with bloom.Locations and bloom.(*BloomFilter).Add is tested.

const (
	murC1 = 0x87c37b91114253d5
	murC2 = 0x4cf5ad432745937f
)

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// baseHashes20 returns bloom/v3's four base hashes of a 20-byte key.
func baseHashes20(key *[20]byte) [4]uint64 {
	k1 := binary.LittleEndian.Uint64(key[0:8])
	k2 := binary.LittleEndian.Uint64(key[8:16])
	var h1, h2 uint64

	k1 *= murC1
	k1 = bits.RotateLeft64(k1, 31)
	k1 *= murC2
	h1 ^= k1
	h1 = bits.RotateLeft64(h1, 27)
	h1 += h2
	h1 = h1*5 + 0x52dce729
	k2 *= murC2
	k2 = bits.RotateLeft64(k2, 33)
	k2 *= murC1
	h2 ^= k2
	h2 = bits.RotateLeft64(h2, 31)
	h2 += h1
	h2 = h2*5 + 0x38495ab5

	tail := uint64(binary.LittleEndian.Uint32(key[16:20]))
	a1, a2 := finish(h1, h2, tail, 20)
	b1, b2 := finish(h1, h2, tail|1<<32, 21) // the key with 0x01 appended
	return [4]uint64{a1, a2, b1, b2}
}

// finish is murmur3-128's tail (at most 8 bytes, in t) and finalization.
func finish(h1, h2, t, length uint64) (uint64, uint64) {
	t *= murC1
	t = bits.RotateLeft64(t, 31)
	t *= murC2
	h1 ^= t
	h1 ^= length
	h2 ^= length
	h1 += h2
	h2 += h1
	h1 = fmix64(h1)
	h2 = fmix64(h2)
	h1 += h2
	h2 += h1
	return h1, h2
}

// location is bloom/v3's i-th location before reduction modulo m.
func location(h *[4]uint64, i uint64) uint64 {
	return h[i%2] + i*h[2+(((i+(i%2))%4)/2)]
}

// modulus computes x mod m without a division instruction (Lemire, Kaser
// and Kurz, "Faster remainder by direct computation", 2019): with the
// 128-bit c = floor((2^128-1)/m) + 1, x mod m is the top 64 bits of the
// 192-bit product ((c*x) mod 2^128) * m, for every 64-bit x and m > 0.
// A 64-bit DIV costs more than the rest of the work per bit position.
type modulus struct {
	m, chi, clo uint64
}

func newModulus(m uint64) modulus {
	qhi, r := bits.Div64(0, ^uint64(0), m)
	qlo, _ := bits.Div64(r, ^uint64(0), m)
	clo, carry := bits.Add64(qlo, 1, 0)
	return modulus{m: m, chi: qhi + carry, clo: clo}
}

func (d *modulus) mod(x uint64) uint64 {
	// low = (c * x) mod 2^128
	h, lowLo := bits.Mul64(d.clo, x)
	lowHi := h + d.chi*x
	// (low * m) >> 128
	p1hi, _ := bits.Mul64(lowLo, d.m)
	p2hi, p2lo := bits.Mul64(lowHi, d.m)
	_, carry := bits.Add64(p1hi, p2lo, 0)
	return p2hi + carry
}
