package breach

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
)

// ParsePrefix parses a 5-hex-digit range prefix, either case, as the Pwned
// Passwords API accepts it.
func ParsePrefix(s string) (uint32, bool) {
	if len(s) != 5 {
		return 0, false
	}
	var p uint32
	for i := 0; i < 5; i++ {
		v := hexVal[s[i]]
		if v == 0xff {
			return 0, false
		}
		p = p<<4 | uint32(v)
	}
	return p, true
}

// RangeLen returns the number of hashes under prefix.
func (e *Exact) RangeLen(prefix uint32) (int, error) {
	if prefix >= Prefixes {
		return 0, fmt.Errorf("breach: prefix %#x out of range", prefix)
	}
	if !e.acquire() {
		return 0, ErrClosed
	}
	defer e.release()
	var n int
	err := e.guard(func() error {
		recs, err := e.bucket(prefix)
		n = len(recs) / RecordSize
		return err
	})
	return n, err
}

const upperHex = "0123456789ABCDEF"

// hexPairs holds the two uppercase hex digits of every byte value.
var hexPairs = func() (t [256][2]byte) {
	for i := range t {
		t[i] = [2]byte{upperHex[i>>4], upperHex[i&0x0f]}
	}
	return t
}()

// maxLine is the longest line appendLine writes: 35 digits, a colon and
// a count of up to 20 digits.
const maxLine = 35 + 1 + 20

// appendLine appends "SUFFIX35HEX:COUNT".
func appendLine(dst []byte, suffix []byte, count uint64) []byte {
	n := len(dst)
	if cap(dst)-n < maxLine {
		dst = slices.Grow(dst, maxLine)
	}
	dst = dst[:n+36]
	line := (*[36]byte)(dst[n:])
	s := (*[SuffixBytes]byte)(suffix)
	line[0] = upperHex[s[0]&0x0f]
	binary.BigEndian.PutUint64(line[1:], hex4(binary.BigEndian.Uint32(s[1:])))
	binary.BigEndian.PutUint64(line[9:], hex4(binary.BigEndian.Uint32(s[5:])))
	binary.BigEndian.PutUint64(line[17:], hex4(binary.BigEndian.Uint32(s[9:])))
	binary.BigEndian.PutUint64(line[25:], hex4(binary.BigEndian.Uint32(s[13:])))
	p := hexPairs[s[17]]
	line[33], line[34], line[35] = p[0], p[1], ':'
	switch {
	case count < 10: // every padding line
		return append(dst, byte('0'+count))
	case count < 100:
		p := decimalPairs[count]
		return append(dst, p[0], p[1])
	case count < 10000: // most real counts: two table lookups, no division loop
		hi, lo := decimalPairs[count/100], decimalPairs[count%100]
		if hi[0] == '0' {
			return append(dst, hi[1], lo[0], lo[1])
		}
		return append(dst, hi[0], hi[1], lo[0], lo[1])
	}
	return strconv.AppendUint(dst, count, 10)
}

// hex4 returns the eight uppercase hex digits of v's four bytes, first
// byte first, as a big-endian word: the nibbles are spread one to a byte
// and each becomes '0'+n, plus 7 more where n >= 10 (n+6 carries into
// bit 4 exactly then). No byte carries into the next.
func hex4(v uint32) uint64 {
	x := uint64(v)
	x = (x | x<<16) & 0x0000FFFF0000FFFF
	x = (x | x<<8) & 0x00FF00FF00FF00FF
	x = (x<<4)&0x0F000F000F000F00 | x&0x000F000F000F000F
	letters := (x + 0x0606060606060606) >> 4 & 0x0101010101010101
	return x + 0x3030303030303030 + letters*7
}

// decimalPairs holds the two decimal digits of 0 to 99.
var decimalPairs = func() (t [100][2]byte) {
	for i := range t {
		t[i] = [2]byte{byte('0' + i/10), byte('0' + i%10)}
	}
	return t
}()

// AppendRange appends the Pwned Passwords range answer for prefix to dst:
// one "SUFFIX:COUNT" line per hash under prefix (35 uppercase hex digits),
// sorted, separated by CRLF, with no line ending after the last, as
// api.pwnedpasswords.com answers. With padTo > 0, random suffixes with
// count 0 are mixed in, in order, until there are at least padTo lines;
// a padding suffix is never one of the real ones nor repeated. It returns
// the number of real lines.
func (e *Exact) AppendRange(dst []byte, prefix uint32, padTo int) ([]byte, int, error) {
	if prefix >= Prefixes {
		return dst, 0, fmt.Errorf("breach: prefix %#x out of range", prefix)
	}
	if !e.acquire() {
		return dst, 0, ErrClosed
	}
	defer e.release()
	var real int
	err := e.guard(func() error {
		recs, err := e.bucket(prefix)
		if err != nil {
			return err
		}
		real = len(recs) / RecordSize
		var pad [][SuffixBytes]byte
		if padTo > real {
			pad, err = padding(recs, padTo-real)
			if err != nil {
				return err
			}
		}
		dst = slices.Grow(dst, (real+len(pad))*(35+1+10+2))
		// Every line ends in CRLF as it is written; the last one's is cut.
		start := len(dst)
		j := 0
		for i := 0; i < real; i++ {
			r := recs[i*RecordSize : (i+1)*RecordSize]
			for j < len(pad) && bytes.Compare(pad[j][:], r[:SuffixBytes]) < 0 {
				dst = append(appendLine(dst, pad[j][:], 0), '\r', '\n')
				j++
			}
			dst = append(appendLine(dst, r, uint64(binary.LittleEndian.Uint32(r[SuffixBytes:]))), '\r', '\n')
		}
		for ; j < len(pad); j++ {
			dst = append(appendLine(dst, pad[j][:], 0), '\r', '\n')
		}
		if len(dst) > start {
			dst = dst[:len(dst)-2]
		}
		return nil
	})
	return dst, real, err
}

// padding returns n sorted, distinct random suffixes none of which is in
// recs.
func padding(recs []byte, n int) ([][SuffixBytes]byte, error) {
	out := make([][SuffixBytes]byte, 0, n)
	raw := make([]byte, n*SuffixBytes)
	for len(out) < n {
		need := n - len(out)
		if _, err := rand.Read(raw[:need*SuffixBytes]); err != nil {
			return nil, fmt.Errorf("breach: padding: %w", err)
		}
		for i := range need {
			var s [SuffixBytes]byte
			copy(s[:], raw[i*SuffixBytes:])
			s[0] &= 0x0f
			if _, found := search(recs, &s); !found {
				out = append(out, s)
			}
		}
		slices.SortFunc(out, func(a, b [SuffixBytes]byte) int { return bytes.Compare(a[:], b[:]) })
		out = slices.Compact(out)
	}
	return out, nil
}

// Tag identifies the store's contents (its checksum), for ETags: a
// rebuilt store gets a new one.
func (e *Exact) Tag() string { return fmt.Sprintf("%08x", e.hdr.Checksum) }
