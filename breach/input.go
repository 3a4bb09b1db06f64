package breach

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
)

// chunkSize is the size of the blocks of whole lines handed to the workers.
const chunkSize = 256 << 10

// maxLineLen bounds a line; a longer one is reported as malformed. HIBP
// lines are about 45 bytes; plaintext lists hold passwords.
const maxLineLen = 4096

// source is one file to read: a HIBP file, a range file (prefix set) or stdin.
type source struct {
	name   string // for messages
	path   string // "" for stdin
	prefix string // 5 hex digits for a range file
	size   int64  // bytes on disk, -1 if unknown
}

// chunk is a block of complete lines from one source.
type chunk struct {
	buf    []byte
	src    *source
	line   uint64 // number of the first line in buf, from 1
	pooled []byte // the buffer to recycle
}

// expandInputs turns the command-line inputs into sources, listing
// directories of range files. It returns the names of files it ignored.
func expandInputs(inputs []string) ([]*source, []string, error) {
	var out []*source
	var ignored []string
	for _, in := range inputs {
		if in == "-" {
			out = append(out, &source{name: "stdin", size: -1})
			continue
		}
		st, err := os.Stat(in)
		if err != nil {
			return nil, nil, fmt.Errorf("input: %w", err)
		}
		if !st.IsDir() {
			out = append(out, &source{name: in, path: in, size: st.Size()})
			continue
		}
		ents, err := os.ReadDir(in)
		if err != nil {
			return nil, nil, fmt.Errorf("input: %w", err)
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		found := 0
		for _, e := range ents {
			p := filepath.Join(in, e.Name())
			prefix, ok := rangePrefix(e.Name())
			if !ok || !e.Type().IsRegular() {
				ignored = append(ignored, p)
				continue
			}
			info, err := e.Info()
			if err != nil {
				return nil, nil, fmt.Errorf("input: %w", err)
			}
			out = append(out, &source{name: p, path: p, prefix: prefix, size: info.Size()})
			found++
		}
		if found == 0 {
			return nil, nil, fmt.Errorf("input %s: directory holds no range files (named by a 5-hex prefix, like 5BAA6 or 5BAA6.txt)", in)
		}
	}
	return out, ignored, nil
}

// rangePrefix reports whether name is a range file name: 5 hex digits,
// optionally followed by .txt and/or .gz. It returns the prefix upper-cased.
func rangePrefix(name string) (string, bool) {
	base := strings.TrimSuffix(name, ".gz")
	base = strings.TrimSuffix(base, ".txt")
	if len(base) != 5 {
		return "", false
	}
	for i := 0; i < 5; i++ {
		if _, ok := unhex(base[i]); !ok {
			return "", false
		}
	}
	return strings.ToUpper(base), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// countingReader counts the bytes read from disk (before decompression),
// for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// opener opens sources one after another, reusing its buffer and
// decompressor (a range download is a million small files).
type opener struct {
	stdin io.Reader
	read  *atomic.Int64
	br    *bufio.Reader
	zr    *gzip.Reader
}

// open opens a source for reading, decompressing gzip (recognized by its
// magic bytes, whatever the file is called).
func (o *opener) open(s *source) (io.Reader, func() error, error) {
	var r io.Reader
	closeFn := func() error { return nil }
	if s.path == "" {
		if o.stdin == nil {
			return nil, nil, errors.New("input -: no standard input")
		}
		r = o.stdin
	} else {
		f, err := os.Open(s.path)
		if err != nil {
			return nil, nil, fmt.Errorf("input: %w", err)
		}
		r, closeFn = f, f.Close
	}
	cr := countingReader{r, o.read}
	if o.br == nil {
		o.br = bufio.NewReaderSize(cr, 64<<10)
	} else {
		o.br.Reset(cr)
	}
	magic, _ := o.br.Peek(2)
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return o.br, closeFn, nil
	}
	var err error
	if o.zr == nil {
		o.zr, err = gzip.NewReader(o.br)
	} else {
		err = o.zr.Reset(o.br)
	}
	if err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("input %s: %w", s.name, err)
	}
	return o.zr, closeFn, nil
}

// readChunks reads every source in order and sends blocks of whole lines to
// out, taking empty buffers from free. It closes out when done.
func readChunks(ctx context.Context, srcs []*source, stdin io.Reader, read *atomic.Int64, free chan []byte, out chan<- chunk) error {
	defer close(out)
	o := &opener{stdin: stdin, read: read}
	for _, s := range srcs {
		if err := readSource(ctx, s, o, free, out); err != nil {
			return err
		}
	}
	return nil
}

func readSource(ctx context.Context, s *source, o *opener, free chan []byte, out chan<- chunk) error {
	r, closeFn, err := o.open(s)
	if err != nil {
		return err
	}
	defer closeFn()
	line := uint64(1)
	var carry []byte // an incomplete last line from the previous read
	for {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			return ctx.Err()
		}
		buf = buf[:cap(buf)]
		n := copy(buf, carry)
		carry = carry[:0]
		m, rerr := fill(r, buf[n:])
		n += m
		eof := rerr == io.EOF
		if rerr != nil && !eof {
			// Including io.ErrUnexpectedEOF: a truncated .gz file.
			return fmt.Errorf("input %s: %w", s.name, rerr)
		}
		data := buf[:n]
		if !eof {
			cut := bytes.LastIndexByte(data, '\n')
			if cut < 0 {
				// One line fills the whole chunk: hand it on as it is; the
				// parser reports it as too long. Its continuation will be
				// reported as a further malformed line.
				cut = n - 1
			}
			carry = append(carry, data[cut+1:]...)
			data = data[:cut+1]
		}
		if len(data) > 0 {
			c := chunk{buf: data, src: s, line: line, pooled: buf}
			line += uint64(bytes.Count(data, []byte{'\n'}))
			select {
			case out <- c:
			case <-ctx.Done():
				return ctx.Err()
			}
		} else {
			free <- buf
		}
		if eof {
			return nil
		}
	}
}

// fill reads until b is full or r fails; unlike io.ReadFull it passes
// r's own io.ErrUnexpectedEOF (a truncated gzip stream) through and
// reports a clean end as io.EOF.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// estimateLines guesses the number of lines in the sources from their sizes.
func estimateLines(srcs []*source, plain bool) (uint64, error) {
	var total float64
	for _, s := range srcs {
		if s.size < 0 {
			return 0, errors.New("cannot size the filter from standard input: pass --expected N")
		}
		size := float64(s.size)
		if isGzip(s.path) {
			size *= 2.2 // hex text compresses to about 45%
		}
		per := 44.0 // "40HEX:COUNT\r\n"
		switch {
		case plain:
			per = 9
		case s.prefix != "":
			per = 40 // "35HEX:COUNT\r\n"
		}
		total += size / per
	}
	return uint64(total) + 1, nil
}

func isGzip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [2]byte
	n, _ := io.ReadFull(f, b[:])
	return n == 2 && b[0] == 0x1f && b[1] == 0x8b
}

// countLines counts the non-blank lines of the sources exactly; used for
// small inputs so the filter is sized for exactly what it will hold.
func countLines(ctx context.Context, srcs []*source) (uint64, error) {
	var n uint64
	o := &opener{read: new(atomic.Int64)}
	for _, s := range srcs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		r, closeFn, err := o.open(s)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if len(bytes.TrimRight(sc.Bytes(), "\r")) > 0 {
				n++
			}
		}
		closeFn()
		if err := sc.Err(); err != nil {
			return 0, fmt.Errorf("input %s: %w", s.name, err)
		}
	}
	return n, nil
}
