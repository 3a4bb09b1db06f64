package breach

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The exact store is written from the same parsed keys as the filter, in
// the same pass over the inputs: each worker appends every accepted key
// and its count to one of 256 spill files, by the key's first byte. When
// the inputs are done, each spill file (1/256 of the corpus, about 190 MiB
// at full size) is sorted in memory, duplicates are merged, the base
// store's records of the same range are merged in, and the records are
// appended to the output in order while the prefix index is counted.

const (
	spillParts = 256
	spillRec   = 24 // 20-byte key, uint32 count
	spillBuf   = 8 << 10
)

// errExactNeedsBase is returned when a filter is updated with --base and an
// exact store is written without the exact store of the base: the new store
// would miss the base's hashes, and confirming the filter's hits against
// it would let breached passwords through.
var errExactNeedsBase = errors.New("an exact store built on a base filter needs the base's exact store (ExactBase, --exact-base)")

type exactSpill struct {
	dir   string
	parts [spillParts]spillPart
}

type spillPart struct {
	mu sync.Mutex
	f  *os.File
	n  uint64
}

// newExactSpill creates the spill files in a temporary directory beside out.
func newExactSpill(out string) (*exactSpill, error) {
	dir, err := os.MkdirTemp(filepath.Dir(out), filepath.Base(out)+".spill*")
	if err != nil {
		return nil, fmt.Errorf("exact store: %w", err)
	}
	s := &exactSpill{dir: dir}
	for i := range s.parts {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%02x", i)))
		if err != nil {
			s.remove()
			return nil, fmt.Errorf("exact store: %w", err)
		}
		s.parts[i].f = f
	}
	return s, nil
}

func (s *exactSpill) remove() {
	for i := range s.parts {
		if f := s.parts[i].f; f != nil {
			f.Close()
		}
	}
	os.RemoveAll(s.dir)
}

// spillLocal is one worker's buffers in front of the shared spill files.
type spillLocal struct {
	s   *exactSpill
	buf [spillParts][]byte
	err error
}

func (s *exactSpill) local() *spillLocal { return &spillLocal{s: s} }

func (l *spillLocal) add(keys [][20]byte, counts []uint64) {
	for i := range keys {
		p := keys[i][0]
		b := l.buf[p]
		if b == nil {
			b = make([]byte, 0, spillBuf)
		}
		b = append(b, keys[i][:]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(min(counts[i], MaxCount)))
		if len(b)+spillRec > cap(b) {
			l.flush(p, b)
			b = b[:0]
		}
		l.buf[p] = b
	}
}

func (l *spillLocal) flush(p byte, b []byte) {
	if len(b) == 0 || l.err != nil {
		return
	}
	part := &l.s.parts[p]
	part.mu.Lock()
	_, err := part.f.Write(b)
	part.n += uint64(len(b) / spillRec)
	part.mu.Unlock()
	if err != nil {
		l.err = fmt.Errorf("exact store: spill: %w", err)
	}
}

// done flushes every buffer and returns the first write error.
func (l *spillLocal) done() error {
	for p := range l.buf {
		l.flush(byte(p), l.buf[p])
		l.buf[p] = nil
	}
	return l.err
}

// exactRec is one hash and its count while building.
type exactRec struct {
	key   [20]byte
	count uint32
}

func addCount(a, b uint32) uint32 {
	if s := uint64(a) + uint64(b); s <= MaxCount {
		return uint32(s)
	}
	return MaxCount
}

// ExactReport tells what writing the exact store did.
type ExactReport struct {
	Out    string
	Header ExactHeader
	// Duplicates is the number of input keys that repeated a key already
	// seen (their counts were added up); FromBase the records kept from
	// the base store.
	Duplicates, FromBase uint64
	Write                time.Duration
}

// writeExact sorts the spill files into the exact store at out, merging
// in base when it is not nil, and renames it into place.
func (s *exactSpill) writeExact(out string, base *Exact, source string, now time.Time) (rep ExactReport, err error) {
	start := time.Now()
	rep.Out = out
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp*")
	if err != nil {
		return rep, fmt.Errorf("write exact store: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Seek(exactRecordsOff, io.SeekStart); err != nil {
		return rep, fmt.Errorf("write exact store: %w", err)
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	counts := make([]uint64, Prefixes)
	var sum, n uint64
	var line [RecordSize]byte
	emit := func(r *exactRec) error {
		counts[PrefixOf(&r.key)]++
		sx := suffixOf(&r.key)
		copy(line[:], sx[:])
		binary.LittleEndian.PutUint32(line[SuffixBytes:], r.count)
		sum = updateChecksum(sum, line[:])
		n++
		_, err := w.Write(line[:])
		return err
	}
	var raw []byte
	var recs []exactRec
	for p := range s.parts {
		part := &s.parts[p]
		size := part.n * spillRec
		raw = slices.Grow(raw[:0], int(size))[:size]
		if _, err := part.f.ReadAt(raw, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
			return rep, fmt.Errorf("write exact store: read spill: %w", err)
		}
		recs = slices.Grow(recs[:0], int(part.n))[:part.n]
		for i := range recs {
			r := raw[i*spillRec:]
			copy(recs[i].key[:], r[:20])
			recs[i].count = binary.LittleEndian.Uint32(r[20:])
		}
		slices.SortFunc(recs, func(a, b exactRec) int { return bytes.Compare(a.key[:], b.key[:]) })
		// Merge duplicates in place (sum their counts).
		k := 0
		for i := range recs {
			if k > 0 && recs[k-1].key == recs[i].key {
				recs[k-1].count = addCount(recs[k-1].count, recs[i].count)
				rep.Duplicates++
				continue
			}
			recs[k] = recs[i]
			k++
		}
		recs = recs[:k]
		if err := mergeBase(base, byte(p), recs, emit, &rep); err != nil {
			return rep, fmt.Errorf("write exact store: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return rep, fmt.Errorf("write exact store %s: %w", tmp.Name(), err)
	}
	index := make([]byte, exactIndexLen)
	var at uint64
	for p, c := range counts {
		binary.LittleEndian.PutUint64(index[p*8:], at)
		at += c
	}
	binary.LittleEndian.PutUint64(index[Prefixes*8:], at)
	sum = updateChecksum(sum, index)
	if _, err := tmp.WriteAt(index, exactIndexOff); err != nil {
		return rep, fmt.Errorf("write exact store %s: %w", tmp.Name(), err)
	}
	hdr := ExactHeader{Version: ExactVersion, N: n, BuiltAt: now, Checksum: sum, Source: source}
	head, err := hdr.marshal()
	if err != nil {
		return rep, fmt.Errorf("write exact store: %w", err)
	}
	if _, err := tmp.WriteAt(head, 0); err != nil {
		return rep, fmt.Errorf("write exact store %s: %w", tmp.Name(), err)
	}
	// The gap between the index and the records is zero: WriteAt past the
	// end leaves a hole, and the file length must be exact.
	if err := tmp.Truncate(int64(hdr.FileSize())); err != nil {
		return rep, fmt.Errorf("write exact store %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return rep, fmt.Errorf("write exact store %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return rep, fmt.Errorf("write exact store %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return rep, fmt.Errorf("write exact store: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return rep, fmt.Errorf("write exact store: %w", err)
	}
	rep.Header = hdr
	rep.Write = time.Since(start)
	return rep, nil
}

// mergeBase emits, in key order, the sorted new records of first byte b
// and the base's records of the same first byte. A hash in both keeps the
// larger count: HIBP counts only grow, and a re-downloaded range repeats
// its hashes with their current totals, so adding would count them twice.
func mergeBase(base *Exact, b byte, recs []exactRec, emit func(*exactRec) error, rep *ExactReport) error {
	if base == nil {
		for i := range recs {
			if err := emit(&recs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return base.guard(func() error {
		i := 0
		for p, end := uint32(b)<<12, (uint32(b)+1)<<12; p < end; p++ {
			bucket, err := base.bucket(p)
			if err != nil {
				return fmt.Errorf("base: %w", err)
			}
			for off := 0; off < len(bucket); off += RecordSize {
				var r exactRec
				r.key[0], r.key[1] = byte(p>>12), byte(p>>4)
				copy(r.key[2:], bucket[off:off+SuffixBytes])
				r.key[2] |= byte(p&0x0f) << 4
				r.count = binary.LittleEndian.Uint32(bucket[off+SuffixBytes:])
				for i < len(recs) && bytes.Compare(recs[i].key[:], r.key[:]) < 0 {
					if err := emit(&recs[i]); err != nil {
						return err
					}
					i++
				}
				if i < len(recs) && recs[i].key == r.key {
					recs[i].count = max(recs[i].count, r.count)
					continue
				}
				rep.FromBase++
				if err := emit(&r); err != nil {
					return err
				}
			}
		}
		for ; i < len(recs); i++ {
			if err := emit(&recs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}
