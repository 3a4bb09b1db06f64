package breach

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// Exact store layout constants. See EXACT.md for the full description.
const (
	// ExactMagic is the first 8 bytes of every exact store file.
	ExactMagic = "SREXACT\x00"
	// ExactVersion is the exact store format version this package writes
	// and reads.
	ExactVersion = 1
	// PrefixBits is the length of the range prefix: 5 hex digits.
	PrefixBits = 20
	// Prefixes is the number of 5-hex-digit prefixes, 16^5.
	Prefixes = 1 << PrefixBits
	// SuffixBytes is the stored part of a hash: its last 140 bits (35 hex
	// digits) in 18 bytes, the first byte's high nibble zero.
	SuffixBytes = 18
	// RecordSize is one record: the suffix and a little-endian uint32 count.
	RecordSize = SuffixBytes + 4
	// MaxCount is the largest count a record holds; larger counts are
	// stored as MaxCount.
	MaxCount = 1<<32 - 1

	exactIndexOff = HeaderSize
	exactIndexLen = (Prefixes + 1) * 8
	// exactRecordsOff is page-aligned after the index.
	exactRecordsOff = (exactIndexOff + exactIndexLen + 4095) &^ 4095

	exOffVersion    = 8
	exOffHeaderSize = 12
	exOffN          = 16
	exOffRecordSize = 24
	exOffPrefixBits = 28
	exOffIndexOff   = 32
	exOffRecordsOff = 40
	exOffBuilt      = 48
	exOffChecksumAl = 56
	exOffChecksum   = 64
	exOffSourceLen  = 72
	exOffSource     = 74
)

// ErrNotExact is returned for a file that is not an exact store at all.
var ErrNotExact = errors.New("not a safereset exact breach store")

// ErrExactFault is returned by a lookup when reading the mapped store
// faulted: the file was truncated or became unreadable under the process.
var ErrExactFault = errors.New("breach: exact store unreadable (file changed under the server?)")

// ExactHeader is the metadata at the start of an exact store file.
type ExactHeader struct {
	Version uint32
	N       uint64 // records: distinct hashes
	BuiltAt time.Time
	// Checksum is CRC-32C of the record bytes followed by the index bytes.
	Checksum uint64
	Source   string
}

// FileSize is the exact length of a store with this header.
func (h ExactHeader) FileSize() uint64 { return exactRecordsOff + h.N*RecordSize }

func (h ExactHeader) marshal() ([]byte, error) {
	if len(h.Source) > MaxSourceLen {
		return nil, fmt.Errorf("source description is %d bytes, at most %d fit", len(h.Source), MaxSourceLen)
	}
	b := make([]byte, HeaderSize)
	le := binary.LittleEndian
	copy(b, ExactMagic)
	le.PutUint32(b[exOffVersion:], ExactVersion)
	le.PutUint32(b[exOffHeaderSize:], HeaderSize)
	le.PutUint64(b[exOffN:], h.N)
	le.PutUint32(b[exOffRecordSize:], RecordSize)
	le.PutUint32(b[exOffPrefixBits:], PrefixBits)
	le.PutUint64(b[exOffIndexOff:], exactIndexOff)
	le.PutUint64(b[exOffRecordsOff:], exactRecordsOff)
	le.PutUint64(b[exOffBuilt:], uint64(h.BuiltAt.UnixNano()))
	le.PutUint32(b[exOffChecksumAl:], ChecksumCRC32C)
	le.PutUint64(b[exOffChecksum:], h.Checksum)
	le.PutUint16(b[exOffSourceLen:], uint16(len(h.Source)))
	copy(b[exOffSource:], h.Source)
	le.PutUint32(b[offHeaderCRC:], crc32.Checksum(b[:offHeaderCRC], crc32.MakeTable(crc32.Castagnoli)))
	return b, nil
}

func parseExactHeader(b []byte, size int64) (ExactHeader, error) {
	if len(b) < len(ExactMagic) || string(b[:len(ExactMagic)]) != ExactMagic {
		return ExactHeader{}, ErrNotExact
	}
	if len(b) < HeaderSize {
		return ExactHeader{}, fmt.Errorf("%w: %d bytes is shorter than the %d-byte header (truncated)", ErrCorrupt, len(b), HeaderSize)
	}
	le := binary.LittleEndian
	h := ExactHeader{Version: le.Uint32(b[exOffVersion:])}
	if h.Version != ExactVersion {
		return ExactHeader{}, fmt.Errorf("%w %d of the exact store (this build reads version %d)", ErrVersion, h.Version, ExactVersion)
	}
	if got, want := le.Uint32(b[offHeaderCRC:]), crc32.Checksum(b[:offHeaderCRC], crc32.MakeTable(crc32.Castagnoli)); got != want {
		return ExactHeader{}, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	switch {
	case le.Uint32(b[exOffHeaderSize:]) != HeaderSize,
		le.Uint32(b[exOffRecordSize:]) != RecordSize,
		le.Uint32(b[exOffPrefixBits:]) != PrefixBits,
		le.Uint64(b[exOffIndexOff:]) != exactIndexOff,
		le.Uint64(b[exOffRecordsOff:]) != exactRecordsOff:
		return ExactHeader{}, fmt.Errorf("%w: layout fields differ from version %d's", ErrCorrupt, ExactVersion)
	case le.Uint32(b[exOffChecksumAl:]) != ChecksumCRC32C:
		return ExactHeader{}, fmt.Errorf("%w: unknown checksum algorithm", ErrCorrupt)
	}
	h.N = le.Uint64(b[exOffN:])
	h.BuiltAt = time.Unix(0, int64(le.Uint64(b[exOffBuilt:]))).UTC()
	h.Checksum = le.Uint64(b[exOffChecksum:])
	sl := int(le.Uint16(b[exOffSourceLen:]))
	if sl > MaxSourceLen {
		return ExactHeader{}, fmt.Errorf("%w: source description length %d", ErrCorrupt, sl)
	}
	h.Source = string(b[exOffSource : exOffSource+sl])
	if !utf8.ValidString(h.Source) {
		return ExactHeader{}, fmt.Errorf("%w: source description is not UTF-8", ErrCorrupt)
	}
	if h.N > (1<<62)/RecordSize {
		return ExactHeader{}, fmt.Errorf("%w: %d records is out of range", ErrCorrupt, h.N)
	}
	if size >= 0 && uint64(size) != h.FileSize() {
		what := "truncated"
		if uint64(size) > h.FileSize() {
			what = "has trailing bytes"
		}
		return ExactHeader{}, fmt.Errorf("%w: file is %d bytes, header says %d (%s)", ErrCorrupt, size, h.FileSize(), what)
	}
	return h, nil
}

// Exact is an open exact store: every hash of the corpus with its count,
// sorted, with a 5-hex-digit prefix index, used in place from a read-only
// mapping. It is safe for concurrent use and stays mapped until Close and
// the last lookup using it have finished.
type Exact struct {
	hdr   ExactHeader
	path  string
	data  []byte
	index []byte // (Prefixes+1) little-endian uint64 record numbers
	recs  []byte
	unmap func([]byte) error

	refs      atomic.Int64
	closeOnce sync.Once
}

// OpenExact maps the exact store at path read-only. Like Open it checks
// only what is cheap (magic, version, header checksum, layout, exact file
// length, the first and last index entries) and refuses a truncated,
// foreign or corrupt file; Verify reads every byte.
func OpenExact(path string) (*Exact, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("breach: open exact store: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("breach: open exact store: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("breach: open exact store %s: not a regular file", path)
	}
	head := make([]byte, HeaderSize)
	n, err := io.ReadFull(fh, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("breach: open exact store %s: %w", path, err)
	}
	h, err := parseExactHeader(head[:n], st.Size())
	if err != nil {
		return nil, fmt.Errorf("breach: open exact store %s: %w", path, err)
	}
	b, unmap, err := mapExact(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("breach: open exact store %s: %w", path, err)
	}
	e, err := newExact(h, path, b, unmap)
	if err != nil {
		_ = unmap(b)
		return nil, fmt.Errorf("breach: open exact store %s: %w", path, err)
	}
	return e, nil
}

// OpenExactBytes opens an exact store held in memory; it takes ownership of b.
func OpenExactBytes(b []byte) (*Exact, error) {
	h, err := parseExactHeader(b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	return newExact(h, "", b, func([]byte) error { return nil })
}

func newExact(h ExactHeader, path string, b []byte, unmap func([]byte) error) (*Exact, error) {
	e := &Exact{hdr: h, path: path, data: b, unmap: unmap,
		index: b[exactIndexOff : exactIndexOff+exactIndexLen],
		recs:  b[exactRecordsOff:],
	}
	le := binary.LittleEndian
	if first, last := le.Uint64(e.index), le.Uint64(e.index[Prefixes*8:]); first != 0 || last != h.N {
		return nil, fmt.Errorf("%w: index runs from record %d to %d, want 0 to %d", ErrCorrupt, first, last, h.N)
	}
	e.refs.Store(1)
	return e, nil
}

// Header returns the store's header.
func (e *Exact) Header() ExactHeader { return e.hdr }

// Path returns the file the store was opened from ("" in memory).
func (e *Exact) Path() string { return e.path }

// Verify checks the checksum of the index and records, and that the index
// is monotonic and every prefix's records are sorted, distinct and in
// their prefix. It pages the whole store in.
func (e *Exact) Verify() error {
	if !e.acquire() {
		return ErrClosed
	}
	defer e.release()
	return e.guard(func() error {
		sum := checksumWords(e.recs)
		sum = updateChecksum(sum, e.index)
		if sum != e.hdr.Checksum {
			return fmt.Errorf("%w: checksum of the records and index is %#x, header says %#x", ErrCorrupt, sum, e.hdr.Checksum)
		}
		le := binary.LittleEndian
		prev := uint64(0)
		for p := range Prefixes {
			next := le.Uint64(e.index[(p+1)*8:])
			if next < prev || next > e.hdr.N {
				return fmt.Errorf("%w: index of prefix %05X is out of order", ErrCorrupt, p)
			}
			for i := prev; i < next; i++ {
				r := e.recs[i*RecordSize : i*RecordSize+SuffixBytes]
				if r[0]&0xf0 != 0 {
					return fmt.Errorf("%w: record %d has a nonzero high nibble", ErrCorrupt, i)
				}
				if i > prev && bytes.Compare(e.recs[(i-1)*RecordSize:(i-1)*RecordSize+SuffixBytes], r) >= 0 {
					return fmt.Errorf("%w: records of prefix %05X are not sorted", ErrCorrupt, p)
				}
			}
			prev = next
		}
		return nil
	})
}

// guard runs fn with faults on the mapping turned into ErrExactFault
// instead of a crash: a store truncated under the process (it should be
// replaced by rename, never rewritten) raises SIGBUS on the lost pages.
func (e *Exact) guard(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if re, ok := r.(runtime.Error); ok {
				if _, fault := re.(interface{ Addr() uintptr }); fault {
					err = ErrExactFault
					return
				}
			}
			panic(r)
		}
	}()
	return fn()
}

// PrefixOf returns the 20-bit range prefix of a SHA-1 digest.
func PrefixOf(sum *[20]byte) uint32 {
	return uint32(sum[0])<<12 | uint32(sum[1])<<4 | uint32(sum[2])>>4
}

// suffixOf returns the stored 18-byte suffix of a SHA-1 digest.
func suffixOf(sum *[20]byte) (s [SuffixBytes]byte) {
	copy(s[:], sum[2:])
	s[0] &= 0x0f
	return s
}

// bucket returns the records of prefix p, or an error when the index is
// damaged (the records are then not trusted).
func (e *Exact) bucket(p uint32) ([]byte, error) {
	le := binary.LittleEndian
	lo, hi := le.Uint64(e.index[p*8:]), le.Uint64(e.index[(p+1)*8:])
	if lo > hi || hi > e.hdr.N {
		return nil, fmt.Errorf("%w: index of prefix %05X is out of order", ErrCorrupt, p)
	}
	return e.recs[lo*RecordSize : hi*RecordSize], nil
}

// search returns the position of suffix in the bucket's records and
// whether it is there: a binary search, about ten steps over the 950 or so
// records a prefix has at full size.
func search(recs []byte, suffix *[SuffixBytes]byte) (int, bool) {
	lo, hi := 0, len(recs)/RecordSize
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		c := bytes.Compare(recs[mid*RecordSize:mid*RecordSize+SuffixBytes], suffix[:])
		switch {
		case c == 0:
			return mid, true
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return lo, false
}

// Count returns how often the raw SHA-1 digest sum was seen in the corpus,
// 0 when it is not in the store.
func (e *Exact) Count(sum [20]byte) (count uint64, err error) {
	if !e.acquire() {
		return 0, ErrClosed
	}
	defer e.release()
	err = e.guard(func() error {
		recs, err := e.bucket(PrefixOf(&sum))
		if err != nil {
			return err
		}
		s := suffixOf(&sum)
		if i, ok := search(recs, &s); ok {
			count = uint64(binary.LittleEndian.Uint32(recs[i*RecordSize+SuffixBytes:]))
		}
		return nil
	})
	return count, err
}

// Close releases the store; lookups already running finish first.
func (e *Exact) Close() error {
	var err error
	e.closeOnce.Do(func() { err = e.release() })
	return err
}

func (e *Exact) acquire() bool {
	for {
		n := e.refs.Load()
		if n <= 0 {
			return false
		}
		if e.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (e *Exact) release() error {
	if e.refs.Add(-1) != 0 {
		return nil
	}
	b := e.data
	e.data, e.index, e.recs = nil, nil, nil
	if err := e.unmap(b); err != nil {
		return fmt.Errorf("breach: unmap exact store: %w", err)
	}
	return nil
}
