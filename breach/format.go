package breach

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
	"unicode/utf8"
)

// File layout constants. See FORMAT.md for the full description.
const (
	// Magic is the first 8 bytes of every breach filter file.
	Magic = "SRBLOOM\x00"
	// FormatVersion is the version this package writes for a new filter;
	// it reads FormatV1 and FormatV2 (blocked.go).
	FormatVersion = FormatV2
	// HeaderSize is the size of the header; the words start at this offset,
	// which is page-aligned.
	HeaderSize = 4096
	// MaxSourceLen is the longest source description the header holds.
	MaxSourceLen = 1024
	// ChecksumCRC32C identifies CRC-32C (Castagnoli) over the word bytes.
	ChecksumCRC32C = 1

	// maxBits bounds m so a corrupt header cannot ask for an absurd mapping
	// (2^40 bits = 128 GiB, 40x the full HIBP corpus at FPR 0.001).
	maxBits = 1 << 40
	// maxK bounds the number of hash functions (k = 50 is FPR 1e-15).
	maxK = 64

	offMagic       = 0
	offVersion     = 8
	offHeaderSize  = 12
	offM           = 16
	offK           = 24
	offN           = 32
	offFPR         = 40
	offBuilt       = 48
	offWords       = 56
	offChecksumAlg = 64
	offChecksum    = 72
	offSourceLen   = 80
	offSource      = 82
	offHeaderCRC   = HeaderSize - 4
)

// Errors returned when a file is not a usable breach filter; check with
// errors.Is. The wrapping error names the file and the exact defect.
var (
	// ErrNotFilter is returned for a file that is not a breach filter at all
	// (wrong magic, too short to hold a header).
	ErrNotFilter = errors.New("not a safereset breach filter")
	// ErrVersion is returned for a filter written in an unsupported format version.
	ErrVersion = errors.New("unsupported breach filter format version")
	// ErrCorrupt is returned for a filter whose header is damaged, whose size
	// does not match its header (truncated or padded), or whose checksum does
	// not match its words.
	ErrCorrupt = errors.New("corrupt breach filter")
)

// Header is the metadata at the start of a breach filter file.
type Header struct {
	Version   uint32
	M         uint64  // bits in the filter
	K         uint64  // hash functions
	N         uint64  // elements inserted (across every update)
	TargetFPR float64 // false-positive rate the filter was sized for
	BuiltAt   time.Time
	Words     uint64 // 64-bit words after the header, ceil(M/64)
	// ChecksumAlg says how Checksum was computed (ChecksumCRC32C).
	ChecksumAlg uint32
	// Checksum of the word bytes exactly as stored in the file.
	Checksum uint64
	// Source describes what the filter was built from.
	Source string
}

// FileSize is the exact length of a file with this header.
func (h Header) FileSize() uint64 { return HeaderSize + h.Words*8 }

// ExpectedFPR is the false-positive rate the filter has at N elements,
// (1 - e^(-kn/m))^k for version 1.
//
// For a version 2 (blocked) filter it is blockedFPR, the Poisson mixture
// over block loads.
func (h Header) ExpectedFPR() float64 {
	if h.Version == FormatV2 {
		return blockedFPR(h.M/blockBits, h.K, h.N)
	}
	return expectedFPR(h.M, h.K, h.N)
}

// Layout names the bit layout of the filter's version, for info output.
func (h Header) Layout() string {
	if h.Version == FormatV2 {
		return "blocked (all k bits of a key in one 512-bit block)"
	}
	return "bloom/v3 (k bits anywhere in m)"
}

func expectedFPR(m, k, n uint64) float64 {
	if m == 0 {
		return 1
	}
	return math.Pow(1-math.Exp(-float64(k)*float64(n)/float64(m)), float64(k))
}

// marshal encodes h into a HeaderSize buffer, including the header CRC.
func (h Header) marshal() ([]byte, error) {
	if len(h.Source) > MaxSourceLen {
		return nil, fmt.Errorf("source description is %d bytes, at most %d fit", len(h.Source), MaxSourceLen)
	}
	b := make([]byte, HeaderSize)
	copy(b[offMagic:], Magic)
	le := binary.LittleEndian
	v := h.Version
	if v == 0 {
		v = FormatV1
	}
	le.PutUint32(b[offVersion:], v)
	le.PutUint32(b[offHeaderSize:], HeaderSize)
	le.PutUint64(b[offM:], h.M)
	le.PutUint64(b[offK:], h.K)
	le.PutUint64(b[offN:], h.N)
	le.PutUint64(b[offFPR:], math.Float64bits(h.TargetFPR))
	le.PutUint64(b[offBuilt:], uint64(h.BuiltAt.UnixNano()))
	le.PutUint64(b[offWords:], h.Words)
	le.PutUint32(b[offChecksumAlg:], h.ChecksumAlg)
	le.PutUint64(b[offChecksum:], h.Checksum)
	le.PutUint16(b[offSourceLen:], uint16(len(h.Source)))
	copy(b[offSource:], h.Source)
	le.PutUint32(b[offHeaderCRC:], crc32.Checksum(b[:offHeaderCRC], crc32.MakeTable(crc32.Castagnoli)))
	return b, nil
}

// parseHeader decodes and sanity-checks a header. size is the length of the
// whole file; it must match the header exactly.
func parseHeader(b []byte, size int64) (Header, error) {
	if len(b) < len(Magic) || string(b[:len(Magic)]) != Magic {
		return Header{}, ErrNotFilter
	}
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header (truncated)", ErrCorrupt, len(b), HeaderSize)
	}
	le := binary.LittleEndian
	h := Header{Version: le.Uint32(b[offVersion:])}
	if h.Version != FormatV1 && h.Version != FormatV2 {
		return Header{}, fmt.Errorf("%w %d (this build reads versions %d and %d)", ErrVersion, h.Version, FormatV1, FormatV2)
	}
	if got, want := le.Uint32(b[offHeaderCRC:]), crc32.Checksum(b[:offHeaderCRC], crc32.MakeTable(crc32.Castagnoli)); got != want {
		return Header{}, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if hs := le.Uint32(b[offHeaderSize:]); hs != HeaderSize {
		return Header{}, fmt.Errorf("%w: header size %d, want %d", ErrCorrupt, hs, HeaderSize)
	}
	h.M = le.Uint64(b[offM:])
	h.K = le.Uint64(b[offK:])
	h.N = le.Uint64(b[offN:])
	h.TargetFPR = math.Float64frombits(le.Uint64(b[offFPR:]))
	h.BuiltAt = time.Unix(0, int64(le.Uint64(b[offBuilt:]))).UTC()
	h.Words = le.Uint64(b[offWords:])
	h.ChecksumAlg = le.Uint32(b[offChecksumAlg:])
	h.Checksum = le.Uint64(b[offChecksum:])
	sl := int(le.Uint16(b[offSourceLen:]))
	if sl > MaxSourceLen {
		return Header{}, fmt.Errorf("%w: source description length %d", ErrCorrupt, sl)
	}
	h.Source = string(b[offSource : offSource+sl])
	switch {
	case h.M == 0 || h.M > maxBits:
		return Header{}, fmt.Errorf("%w: m = %d bits is out of range", ErrCorrupt, h.M)
	case h.K == 0 || h.K > maxK:
		return Header{}, fmt.Errorf("%w: k = %d is out of range 1..%d", ErrCorrupt, h.K, maxK)
	case h.Words != (h.M+63)/64:
		return Header{}, fmt.Errorf("%w: %d words cannot hold m = %d bits", ErrCorrupt, h.Words, h.M)
	case !(h.TargetFPR > 0 && h.TargetFPR < 1):
		return Header{}, fmt.Errorf("%w: target false-positive rate %v is out of range", ErrCorrupt, h.TargetFPR)
	case h.ChecksumAlg != ChecksumCRC32C:
		return Header{}, fmt.Errorf("%w: unknown checksum algorithm %d", ErrCorrupt, h.ChecksumAlg)
	case h.Version == FormatV2 && h.M%blockBits != 0:
		return Header{}, fmt.Errorf("%w: m = %d bits is not a whole number of %d-bit blocks", ErrCorrupt, h.M, blockBits)
	case h.Version == FormatV2 && h.K > maxKBlocked:
		return Header{}, fmt.Errorf("%w: k = %d is out of range 1..%d for the blocked layout", ErrCorrupt, h.K, maxKBlocked)
	case !utf8.ValidString(h.Source):
		return Header{}, fmt.Errorf("%w: source description is not UTF-8", ErrCorrupt)
	}
	if size >= 0 && uint64(size) != h.FileSize() {
		what := "truncated"
		if uint64(size) > h.FileSize() {
			what = "has trailing bytes"
		}
		return Header{}, fmt.Errorf("%w: file is %d bytes, header says %d (%s)", ErrCorrupt, size, h.FileSize(), what)
	}
	return h, nil
}

// checksumWords computes the stored checksum over the word bytes.
func checksumWords(b []byte) uint64 {
	return uint64(crc32.Update(0, crc32.MakeTable(crc32.Castagnoli), b))
}

// updateChecksum continues checksumWords over more bytes.
func updateChecksum(sum uint64, b []byte) uint64 {
	return uint64(crc32.Update(uint32(sum), crc32.MakeTable(crc32.Castagnoli), b))
}

func putLE(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }
