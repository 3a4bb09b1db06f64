package breach

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/safereset/safereset/data"
)

// DefaultFPR is the target false-positive rate when none is given.
const DefaultFPR = 0.001

// smallInput is the input size below which the builder counts lines
// exactly instead of estimating them from the size.
const smallInput = 64 << 20

// ErrMostlyMalformed is returned by Build when more input lines are
// malformed than well-formed: the inputs are probably not HIBP files.
var ErrMostlyMalformed = errors.New("breach: most input lines are malformed")

// BuildOptions configures Build.
type BuildOptions struct {
	// Out is the filter file to write. It is written to a temporary file
	// in the same directory and renamed into place, so a server reloading
	// Out never sees a partial file.
	Out string
	// FPR is the target false-positive rate (default DefaultFPR). Ignored
	// with Base, whose m and k are kept.
	FPR float64
	// MinCount skips hashes seen fewer times than this. Lines with count 0
	// (the padding of range downloads) are always skipped.
	MinCount uint64
	// Expected is the number of hashes to size the filter for; 0 estimates
	// it from the input (exactly for inputs under 64 MiB).
	Expected uint64
	// Base is an existing filter to add to (same m and k) instead of
	// starting empty; HIBP only ever adds hashes.
	Base string
	// Inputs are files, "-" for Stdin, or directories of range files.
	Inputs []string
	Stdin  io.Reader
	// Plain reads the inputs as plaintext passwords, one a line, and
	// inserts the SHA-1 of each line, instead of SHA1HEX:COUNT lines.
	Plain bool
	// Source describes the inputs in the header; default: their names.
	Source string
	// Progress receives a progress line (rate, ETA) every second; nil for
	// none. Pass a terminal only.
	Progress io.Writer
	// Workers is the number of parsing/hashing goroutines (default GOMAXPROCS).
	Workers int
	// OneAtATime inserts each key with bloom's Add on one core, the slow
	// baseline; for benchmarks.
	OneAtATime bool
	// BufferBytes bounds the memory for pending bit positions (default:
	// 22% of the filter less 24 MiB, at least 4 MiB).
	BufferBytes int64
	// Now stamps the build time (default time.Now).
	Now func() time.Time
	// Exact, when set, is the exact store (EXACT.md) to write from the same
	// keys in the same pass: every hash the filter gets, with its count.
	Exact string
	// ExactBase is the exact store to merge in; required with Base when
	// Exact is set, so the new store holds every hash the filter holds.
	ExactBase string
	// Version is the format version of a new filter: FormatV2 (blocked,
	// the default when 0) or FormatV1 (bloom/v3 layout). With Base the
	// base's version is kept; a different non-zero Version is an error.
	Version uint32
}

// BuildReport tells what Build did.
type BuildReport struct {
	Out    string
	Header Header // of the written file
	// Added is the number of hashes inserted by this build (the header's N
	// also counts those of Base).
	Added uint64
	// Lines is the number of non-blank input lines.
	Lines uint64
	// Skipped counts hashes below MinCount.
	Skipped uint64
	// Malformed counts lines that are not SHA1HEX[:COUNT]; Samples quotes
	// the first few with their line numbers.
	Malformed uint64
	Samples   []LineError
	// IgnoredFiles are files in input directories not named like range files.
	IgnoredFiles []string
	// BytesRead is the input read from disk (compressed size for .gz).
	BytesRead int64
	// Duration is the whole build; Insert the reading and inserting part
	// of it, Write the writing and syncing of the file.
	Duration, Insert, Write time.Duration
	// ExpectedFPR is (1-e^(-kn/m))^k for the header's n; FillFPR is
	// (bits set / m)^k, what the filter actually does on random queries.
	ExpectedFPR float64
	FillFPR     float64
	// Oversized is set when more hashes went in than the filter was sized
	// for, so its false-positive rate is above the target.
	Oversized bool
	// Exact reports on the exact store, when one was written.
	Exact *ExactReport
}

// Build reads HIBP hash files and writes a breach filter file.
func Build(ctx context.Context, opts BuildOptions) (BuildReport, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	rep := BuildReport{Out: opts.Out}
	if opts.Out == "" {
		return rep, errors.New("breach: build: no output file")
	}
	if len(opts.Inputs) == 0 {
		return rep, errors.New("breach: build: no inputs")
	}
	fpr := opts.FPR
	if fpr == 0 {
		fpr = DefaultFPR
	}
	if !(fpr > 0 && fpr < 1) {
		return rep, fmt.Errorf("breach: build: false-positive rate %v is not between 0 and 1", fpr)
	}
	srcs, ignored, err := expandInputs(opts.Inputs)
	if err != nil {
		return rep, fmt.Errorf("breach: build: %w", err)
	}
	rep.IgnoredFiles = ignored
	var spill *exactSpill
	var exactBase *Exact
	if opts.Exact != "" {
		if opts.Base != "" && opts.ExactBase == "" {
			return rep, fmt.Errorf("breach: build: %w", errExactNeedsBase)
		}
		if opts.ExactBase != "" {
			exactBase, err = OpenExact(opts.ExactBase)
			if err != nil {
				return rep, fmt.Errorf("breach: build: exact base: %w", err)
			}
			defer exactBase.Close()
			if err := exactBase.Verify(); err != nil {
				return rep, fmt.Errorf("breach: build: exact base %s: %w", opts.ExactBase, err)
			}
		}
		spill, err = newExactSpill(opts.Exact)
		if err != nil {
			return rep, fmt.Errorf("breach: build: %w", err)
		}
		defer spill.remove()
	}

	// Size the filter, or take it from the base.
	var hdr Header
	var words []uint64
	var free func()
	if opts.Base != "" {
		hdr, words, free, err = readBase(opts.Base)
		if err != nil {
			return rep, fmt.Errorf("breach: build: base: %w", err)
		}
		if opts.Version != 0 && opts.Version != hdr.Version {
			free()
			return rep, fmt.Errorf("breach: build: base %s is format version %d; an update keeps its layout, not version %d", opts.Base, hdr.Version, opts.Version)
		}
	} else {
		version := opts.Version
		if version == 0 {
			version = FormatVersion
		}
		if version != FormatV1 && version != FormatV2 {
			return rep, fmt.Errorf("breach: build: format version %d is not %d or %d", version, FormatV1, FormatV2)
		}
		n := opts.Expected
		if n == 0 {
			var total int64
			for _, s := range srcs {
				total += s.size
			}
			if total >= 0 && total < smallInput && !hasStdin(srcs) {
				n, err = countLines(ctx, srcs)
			} else {
				n, err = estimateLines(srcs, opts.Plain)
			}
			if err != nil {
				return rep, fmt.Errorf("breach: build: %w", err)
			}
		}
		var m, k uint64
		if version == FormatV2 {
			blocks, kb := blockedParameters(n, fpr)
			m, k = blocks*blockBits, kb
		} else {
			mb, kb := bloom.EstimateParameters(uint(max(n, 1)), fpr)
			m, k = uint64(mb), uint64(kb)
		}
		hdr = Header{Version: version, M: m, K: k, TargetFPR: fpr, Words: (m + 63) / 64}
		if hdr.M > maxBits {
			return rep, fmt.Errorf("breach: build: %d hashes at FPR %v need %d bits, more than the %d this format allows", n, fpr, hdr.M, uint64(maxBits))
		}
		words, free, err = allocWords(hdr.Words)
		if err != nil {
			return rep, fmt.Errorf("breach: build: %w", err)
		}
	}
	defer free()
	sizedFor := sizedFor(hdr)

	insertStart := now()
	st, read, err := insertAll(ctx, opts, srcs, hdr, words, spill)
	rep.Insert = now().Sub(insertStart)
	rep.BytesRead = read
	if st != nil {
		rep.Added, rep.Lines, rep.Skipped, rep.Malformed, rep.Samples = st.added, st.lines, st.skipped, st.malformed, st.samples
	}
	if err != nil {
		return rep, fmt.Errorf("breach: build: %w", err)
	}
	if rep.Malformed > rep.Lines-rep.Malformed {
		return rep, fmt.Errorf("%w (%d of %d lines; first: %s)", ErrMostlyMalformed, rep.Malformed, rep.Lines, rep.Samples[0])
	}

	hdr.N += rep.Added
	hdr.BuiltAt = now().UTC()
	hdr.ChecksumAlg = ChecksumCRC32C
	hdr.Source = opts.Source
	if hdr.Source == "" {
		hdr.Source = describe(opts)
	}
	if len(hdr.Source) > MaxSourceLen {
		hdr.Source = hdr.Source[:MaxSourceLen-3] + "..."
	}
	writeStart := now()
	set, err := writeFilter(opts.Out, &hdr, words)
	if err != nil {
		return rep, fmt.Errorf("breach: build: %w", err)
	}
	rep.Write = now().Sub(writeStart)
	if spill != nil {
		src := hdr.Source
		if opts.ExactBase != "" && opts.Base == "" {
			src = filepath.Base(opts.ExactBase) + " + " + src
		}
		if len(src) > MaxSourceLen {
			src = src[:MaxSourceLen-3] + "..."
		}
		er, err := spill.writeExact(opts.Exact, exactBase, src, hdr.BuiltAt)
		if err != nil {
			return rep, fmt.Errorf("breach: build: %w", err)
		}
		rep.Exact = &er
	}
	rep.Header = hdr
	rep.ExpectedFPR = hdr.ExpectedFPR()
	rep.FillFPR = math.Pow(float64(set)/float64(hdr.M), float64(hdr.K))
	rep.Oversized = hdr.N > sizedFor
	rep.Duration = now().Sub(start)
	return rep, nil
}

func hasStdin(srcs []*source) bool {
	for _, s := range srcs {
		if s.path == "" {
			return true
		}
	}
	return false
}

// sizedFor is the element count the filter was sized for: the inverse of
// the sizing rule m = ceil(-n ln p / (ln 2)²) of bloom.EstimateParameters.
// The false-positive formula evaluated with the rounded-up k does not
// invert it: it gives fewer elements than the filter was built for, and
// exactly counted input would look oversized.
//
// A version 2 filter was sized by blockedParameters, so its inverse is
// blockedSizedFor.
func sizedFor(h Header) uint64 {
	if h.Version == FormatV2 {
		return blockedSizedFor(h)
	}
	if !(h.TargetFPR > 0 && h.TargetFPR < 1) {
		return math.MaxUint64
	}
	n := float64(h.M) * math.Ln2 * math.Ln2 / -math.Log(h.TargetFPR)
	// The small slack absorbs floating-point error at exact sizes.
	return uint64(math.Floor(n + 1e-6))
}

func describe(opts BuildOptions) string {
	names := make([]string, len(opts.Inputs))
	for i, in := range opts.Inputs {
		names[i] = filepath.Base(in)
		if in == "-" {
			names[i] = "stdin"
		}
	}
	s := strings.Join(names, ", ")
	if opts.Plain {
		s = "plaintext " + s
	}
	if opts.MinCount > 1 {
		s += fmt.Sprintf(" (min count %d)", opts.MinCount)
	}
	if opts.Base != "" {
		s = filepath.Base(opts.Base) + " + " + s
	}
	return s
}

// insertAll streams the sources into words. It returns the merged parse
// statistics and the bytes read.
func insertAll(parent context.Context, opts BuildOptions, srcs []*source, hdr Header, words []uint64, spill *exactSpill) (*parseStats, int64, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	minCount := max(opts.MinCount, 1)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if opts.OneAtATime {
		workers = 1
	}

	var read atomic.Int64
	var added atomic.Uint64
	free := make(chan []byte, 4*workers+4)
	for range cap(free) {
		free <- make([]byte, chunkSize)
	}
	chunks := make(chan chunk, 4*workers)
	readErr := make(chan error, 1)
	go func() { readErr <- readChunks(ctx, srcs, opts.Stdin, &read, free, chunks) }()

	stopProgress := startProgress(opts.Progress, srcs, &read, &added)
	defer stopProgress()

	stats := make([]parseStats, workers)
	l := newLayout(hdr.M, hdr.K)
	if hdr.Version == FormatV2 {
		l.cacheBlocks = hdr.M / blockBits
	}
	// withExact passes each batch to the worker's spill buffers as well.
	locals := make([]*spillLocal, workers)
	withExact := func(w int, add func([][20]byte)) func([][20]byte, []uint64) {
		if spill == nil {
			return func(keys [][20]byte, _ []uint64) { add(keys) }
		}
		if locals[w] == nil {
			locals[w] = spill.local()
		}
		sl := locals[w]
		return func(keys [][20]byte, counts []uint64) {
			sl.add(keys, counts)
			add(keys)
		}
	}

	if opts.OneAtATime {
		var add func([][20]byte, []uint64)
		if hdr.Version == FormatV2 {
			add = withExact(0, simpleBlockedSink{words, hdr.M / blockBits, hdr.K}.addBatch)
		} else {
			add = withExact(0, simpleSink{bloom.FromWithM(words, uint(hdr.M), uint(hdr.K))}.addBatch)
		}
		for c := range chunks {
			before := stats[0].added
			parseChunk(c, opts.Plain, minCount, &stats[0], add)
			added.Add(stats[0].added - before)
			free <- c.pooled
		}
	} else {
		budget := opts.BufferBytes
		if budget == 0 {
			// Memory during a build is the filter plus at most 25%: the
			// position buffers get 22% less about 24 MiB, which the runtime,
			// the chunk buffers and the code take (measured: RSS 1.21x the
			// filter at both 171 MiB and 3.35 GiB).
			budget = max(int64(hdr.Words*8)*22/100-24<<20, 4<<20)
		}
		budget = max(budget, 4096)
		entries := uint64(budget) / 4 / uint64(workers)
		// Keys per worker per round: leave room for random imbalance between
		// regions and for the last chunk taken.
		quota := max(uint64(float64(entries)/float64(hdr.K)*0.85), 1)
		sinks := make([]*regionSink, workers)
		adds := make([]func([][20]byte, []uint64), workers)
		for w := range sinks {
			sinks[w] = newRegionSink(l, words, entries)
			adds[w] = withExact(w, sinks[w].addBatch)
		}
		for done := false; !done; {
			var eof atomic.Bool
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					s := sinks[w]
					for s.keys < quota {
						c, ok := <-chunks
						if !ok {
							eof.Store(true)
							return
						}
						before := stats[w].added
						parseChunk(c, opts.Plain, minCount, &stats[w], adds[w])
						added.Add(stats[w].added - before)
						free <- c.pooled
						if ctx.Err() != nil {
							return
						}
					}
				})
			}
			wg.Wait()
			for w := range workers {
				lo, hi := l.blocks*uint64(w)/uint64(workers), l.blocks*uint64(w+1)/uint64(workers)
				wg.Go(func() { applyBlocks(sinks, lo, hi) })
			}
			wg.Wait()
			for _, s := range sinks {
				s.keys = 0
			}
			done = eof.Load() || ctx.Err() != nil
		}
	}
	cancel()
	// Drain so the reader can finish, then take its verdict.
	for c := range chunks {
		_ = c
	}
	err := <-readErr
	if errors.Is(err, context.Canceled) {
		err = parent.Err() // nil when we cancelled it ourselves after finishing
	}
	if err == nil {
		err = parent.Err()
	}
	merged := &parseStats{}
	for _, s := range stats {
		merged.added += s.added
		merged.skipped += s.skipped
		merged.malformed += s.malformed
		merged.lines += s.lines
		merged.samples = append(merged.samples, s.samples...)
	}
	sortSamples(merged.samples, srcs)
	if len(merged.samples) > maxSamples {
		merged.samples = merged.samples[:maxSamples]
	}
	for _, sl := range locals {
		if sl != nil {
			if serr := sl.done(); serr != nil && err == nil {
				err = serr
			}
		}
	}
	return merged, read.Load(), err
}

func sortSamples(s []LineError, srcs []*source) {
	order := make(map[string]int, len(srcs))
	for i, src := range srcs {
		order[src.name] = i
	}
	for i := 1; i < len(s); i++ {
		for j := i; j > 0; j-- {
			a, b := s[j-1], s[j]
			if order[a.Input] < order[b.Input] || (a.Input == b.Input && a.Line <= b.Line) {
				break
			}
			s[j-1], s[j] = b, a
		}
	}
}

// writeFilter writes header and words to a temporary file beside out,
// syncs it and renames it over out. It returns the number of bits set.
func writeFilter(out string, hdr *Header, words []uint64) (set uint64, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("write filter: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Seek(HeaderSize, io.SeekStart); err != nil {
		return 0, fmt.Errorf("write filter: %w", err)
	}
	sum, set, err := writeWords(tmp, words)
	if err != nil {
		return 0, fmt.Errorf("write filter %s: %w", tmp.Name(), err)
	}
	hdr.Checksum = sum
	head, err := hdr.marshal()
	if err != nil {
		return 0, fmt.Errorf("write filter: %w", err)
	}
	if _, err := tmp.WriteAt(head, 0); err != nil {
		return 0, fmt.Errorf("write filter %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("write filter %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("write filter %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return 0, fmt.Errorf("write filter: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return 0, fmt.Errorf("write filter: %w", err)
	}
	return set, nil
}

// writeWords writes words little-endian and returns their checksum and
// the number of bits set (counted here, while the words are in cache).
func writeWords(w io.Writer, words []uint64) (sum, set uint64, err error) {
	const block = 4 << 20
	var tmp []byte
	for len(words) > 0 {
		n := min(len(words), block/8)
		var b []byte
		if littleEndian() {
			b = unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n*8)
		} else {
			if tmp == nil {
				tmp = make([]byte, block)
			}
			b = tmp[:n*8]
			for i, v := range words[:n] {
				putLE(b[i*8:], v)
			}
		}
		for _, v := range words[:n] {
			set += uint64(bits.OnesCount64(v))
		}
		sum = updateChecksum(sum, b)
		if _, err := w.Write(b); err != nil {
			return 0, 0, err
		}
		words = words[n:]
	}
	return sum, set, nil
}

// DefaultBuildOptions are the options that build the embedded default
// filter (package data) from the common-password list at list into out.
func DefaultBuildOptions(out, list string) BuildOptions {
	builtAt := data.DefaultFilterBuiltAt()
	return BuildOptions{
		Out:    out,
		FPR:    data.DefaultFilterFPR,
		Inputs: []string{list},
		Plain:  true,
		Source: data.DefaultFilterSource,
		Now:    func() time.Time { return builtAt },
		// The embedded filter stays in the layout it was built in: it is
		// small enough to sit in cache, where the blocked layout gains
		// nothing, and rebuilding it would change the embedded bytes.
		Version: FormatV1,
	}
}

// readBase reads an existing filter's words into fresh memory, checking
// its header and the checksum on the way. It reads rather than maps the
// file, so the build's memory stays the filter's size plus buffers.
func readBase(path string) (Header, []uint64, func(), error) {
	fh, err := os.Open(path)
	if err != nil {
		return Header{}, nil, nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return Header{}, nil, nil, err
	}
	head := make([]byte, HeaderSize)
	n, err := io.ReadFull(fh, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Header{}, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	h, err := parseHeader(head[:n], st.Size())
	if err != nil {
		return Header{}, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	words, free, err := allocWords(h.Words)
	if err != nil {
		return Header{}, nil, nil, err
	}
	const block = 4 << 20
	var sum uint64
	buf := make([]byte, block)
	for i := uint64(0); i < h.Words; {
		nw := min(h.Words-i, block/8)
		b := buf[:nw*8]
		if _, err := io.ReadFull(fh, b); err != nil {
			free()
			return Header{}, nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		sum = updateChecksum(sum, b)
		for j := range nw {
			words[i+j] = binary.LittleEndian.Uint64(b[j*8:])
		}
		i += nw
	}
	if sum != h.Checksum {
		free()
		return Header{}, nil, nil, fmt.Errorf("%s: %w: checksum of the words is %#x, header says %#x", path, ErrCorrupt, sum, h.Checksum)
	}
	return h, words, free, nil
}
