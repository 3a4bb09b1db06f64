package breach

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/safereset/safereset/data"
)

// ErrClosed is returned when a closed Filter or Checker is used.
var ErrClosed = errors.New("breach: filter closed")

// Filter is an open breach filter: a header and a bloom.BloomFilter whose
// words are the mapped file itself. It is safe for concurrent use. A Filter
// stays mapped until Close is called and the last check using it has
// finished.
type Filter struct {
	hdr   Header
	path  string // "" for the embedded default filter
	data  []byte // the whole file: a read-only mapping or an owned copy
	bf    *bloom.BloomFilter
	probe probe // the membership test ContainsSHA1 and Lookup use (probe.go)
	unmap func([]byte) error

	// fh is the mapped file, kept open so an in-place change can be seen
	// (nil for in-memory filters); stamp is what it looked like at Open.
	fh     *os.File
	stamp  fileStamp
	head   []byte      // the header bytes read at Open
	broken atomic.Bool // the mapping faulted or the file changed
	// leased: the kernel holds a read lease on fh for this process
	// (lease_linux.go), so a change is announced before it can happen and
	// the guard needs no fstat per lookup.
	leased bool

	// refs is 1 for the owner plus 1 per check in flight; the mapping is
	// released when it drops to 0 and is never revived after that.
	refs      atomic.Int64
	closeOnce sync.Once
}

// Open maps the breach filter file at path read-only and wraps its words
// with bloom.FromWithM without copying or parsing them. It checks what is
// cheap to check (magic, version, header checksum, sane m and k, exact file
// length) and refuses a truncated, foreign or corrupt file; the checksum of
// the words is checked only by Verify, because it reads the whole file.
func Open(path string) (*Filter, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer before the regular-file check below could refuse it.
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("breach: open filter: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			fh.Close()
		}
	}()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("breach: open filter: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("breach: open filter %s: not a regular file", path)
	}
	head := make([]byte, HeaderSize)
	n, err := io.ReadFull(fh, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("breach: open filter %s: %w", path, err)
	}
	h, err := parseHeader(head[:n], st.Size())
	if err != nil {
		return nil, fmt.Errorf("breach: open filter %s: %w", path, err)
	}
	b, unmap, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("breach: open filter %s: %w", path, err)
	}
	f, err := newFilter(h, path, b, unmap)
	if err != nil {
		_ = unmap(b)
		return nil, fmt.Errorf("breach: open filter %s: %w", path, err)
	}
	f.fh, f.stamp, f.head, keep = fh, stampOf(st), head, true
	if f.takeLease() {
		// A change between the stat above and the grant was not
		// announced: look once, and from then on rely on the lease.
		_ = f.guard(func() {})
		f.leased = true
	}
	return f, nil
}

// OpenDefault opens the filter embedded in the binary, built from the
// common-password list in package data. It is small and copied into memory.
func OpenDefault() (*Filter, error) {
	f, err := OpenBytes([]byte(data.BreachFilter()))
	if err != nil {
		return nil, fmt.Errorf("breach: open default filter: %w", err)
	}
	return f, nil
}

// OpenBytes opens a filter held in memory (a copy of a filter file). The
// Filter takes ownership of b, which must not be changed afterwards.
func OpenBytes(b []byte) (*Filter, error) {
	h, err := parseHeader(b, int64(len(b)))
	if err != nil {
		return nil, err
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 != 0 {
		b = append([]byte(nil), b...) // heap allocations are 8-byte aligned
	}
	return newFilter(h, "", b, func([]byte) error { return nil })
}

func newFilter(h Header, path string, b []byte, unmap func([]byte) error) (*Filter, error) {
	words, err := wordsOf(b[HeaderSize:], h.Words)
	if err != nil {
		return nil, err
	}
	f := &Filter{
		hdr:   h,
		path:  path,
		data:  b,
		probe: newProbe(words, h),
		unmap: unmap,
	}
	if h.Version == FormatV1 {
		f.bf = bloom.FromWithM(words, uint(h.M), uint(h.K))
	}
	f.refs.Store(1)
	return f, nil
}

// littleEndian reports whether this machine stores uint64 little-endian,
// so that file words can be used in place.
func littleEndian() bool {
	return binary.NativeEndian.Uint16([]byte{1, 0}) == 1
}

// wordsOf returns the little-endian words in b as []uint64: in place on a
// little-endian machine (b must be 8-byte aligned), as a swapped copy
// elsewhere.
func wordsOf(b []byte, n uint64) ([]uint64, error) {
	if uint64(len(b)) != n*8 {
		return nil, fmt.Errorf("%w: %d word bytes, want %d", ErrCorrupt, len(b), n*8)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no words", ErrCorrupt)
	}
	if littleEndian() {
		if uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
			return nil, errors.New("filter words are not 8-byte aligned")
		}
		return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n), nil
	}
	w := make([]uint64, n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	return w, nil
}

// Header returns the filter's header.
func (f *Filter) Header() Header { return f.hdr }

// Path returns the file the filter was opened from, "" for the embedded
// default or an in-memory filter.
func (f *Filter) Path() string { return f.path }

// Bloom returns the filter as a bloom.BloomFilter over the mapped words. It
// is read-only: writing to it faults. It is valid until Close. It is nil
// for a version 2 (blocked) filter, whose bit positions are not bloom/v3's.
func (f *Filter) Bloom() *bloom.BloomFilter { return f.bf }

// ContainsSHA1 reports whether the raw 20-byte SHA-1 digest is (probably)
// in the filter. The caller must keep f open during the call. It does not
// survive a change of the mapped file: servers use Lookup.
func (f *Filter) ContainsSHA1(sum [20]byte) bool { return f.probe.contains(&sum) }

// Verify reads every word and compares the checksum with the header's. It
// returns an error wrapping ErrCorrupt on a mismatch. As a side effect the
// whole filter is paged in.
func (f *Filter) Verify() error {
	if !f.acquire() {
		return ErrClosed
	}
	defer f.release()
	var got uint64
	if err := f.guard(func() { got = checksumWords(f.data[HeaderSize:]) }); err != nil {
		return err
	}
	if got != f.hdr.Checksum {
		return fmt.Errorf("%w: checksum of the words is %#x, header says %#x", ErrCorrupt, got, f.hdr.Checksum)
	}
	return nil
}

// InMemory returns a copy of f whose file image lives in anonymous memory
// backed by 2 MiB pages where the kernel allows it. A mapping on 4 KiB
// pages makes every probe of a full-size filter (3.35 GiB) also miss the
// TLB; the copy avoids that whatever the page cache holds. It costs the
// copy's memory (private, not shared with the page cache) and a read of
// the whole file. Closing stop abandons the copy and
// returns ErrClosed. f stays open; the copy must be closed separately.
func (f *Filter) InMemory(stop <-chan struct{}) (*Filter, error) {
	if !f.acquire() {
		return nil, ErrClosed
	}
	defer f.release()
	mem, free, err := allocBytes(uint64(len(f.data)))
	if err != nil {
		return nil, fmt.Errorf("breach: copy filter into memory: %w", err)
	}
	const step = 64 << 20
	for off := 0; off < len(mem); off += step {
		select {
		case <-stop:
			free()
			return nil, ErrClosed
		default:
		}
		if err := f.guard(func() { copy(mem[off:min(off+step, len(mem))], f.data[off:]) }); err != nil {
			free()
			return nil, err
		}
	}
	g, err := newFilter(f.hdr, f.path, mem, func([]byte) error { free(); return nil })
	if err != nil {
		free()
		return nil, fmt.Errorf("breach: copy filter into memory: %w", err)
	}
	return g, nil
}

// Close releases the filter. Checks already running on it finish first; the
// mapping is released when the last one is done. Close is idempotent.
func (f *Filter) Close() error {
	var err error
	f.closeOnce.Do(func() { err = f.release() })
	return err
}

// acquire takes a reference for one use; it fails once the filter has been
// released for good.
func (f *Filter) acquire() bool {
	for {
		n := f.refs.Load()
		if n <= 0 {
			return false
		}
		if f.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (f *Filter) release() error {
	if f.refs.Add(-1) != 0 {
		return nil
	}
	b := f.data
	f.data, f.bf, f.probe = nil, nil, probe{}
	if f.fh != nil {
		f.dropLease() // before the close: the watcher uses the descriptor
		f.fh.Close()
	}
	if err := f.unmap(b); err != nil {
		return fmt.Errorf("breach: unmap filter: %w", err)
	}
	return nil
}
