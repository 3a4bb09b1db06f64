package breach

import (
	"bytes"
	"crypto/sha1"
	"fmt"
)

// maxSamples is how many malformed lines a build report quotes.
const maxSamples = 5

// LineError locates one malformed input line.
type LineError struct {
	Input  string
	Line   uint64
	Reason string
}

func (e LineError) String() string { return fmt.Sprintf("%s:%d: %s", e.Input, e.Line, e.Reason) }

// parseStats counts what one worker saw.
type parseStats struct {
	added, skipped, malformed, lines uint64
	samples                          []LineError
}

func (s *parseStats) bad(src *source, line uint64, reason string) {
	s.malformed++
	if len(s.samples) < maxSamples {
		s.samples = append(s.samples, LineError{Input: src.name, Line: line, Reason: reason})
	}
}

// parseChunk parses the lines of c and passes the accepted keys to add,
// in batches, with their counts (1 for each plaintext line).
func parseChunk(c chunk, plain bool, minCount uint64, st *parseStats, add func([][20]byte, []uint64)) {
	var batch [batchKeys][20]byte
	var counts [batchKeys]uint64
	nb := 0
	defer func() {
		if nb > 0 {
			add(batch[:nb], counts[:nb])
		}
	}()
	buf := c.buf
	line := c.line - 1
	for len(buf) > 0 {
		var l []byte
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			l, buf = buf[:i], buf[i+1:]
		} else {
			l, buf = buf, nil
		}
		line++
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		if len(l) == 0 {
			continue
		}
		st.lines++
		if len(l) > maxLineLen {
			st.bad(c.src, line, fmt.Sprintf("line longer than %d bytes", maxLineLen))
			continue
		}
		if nb == batchKeys {
			add(batch[:nb], counts[:nb])
			nb = 0
		}
		key := &batch[nb]
		if plain {
			*key = sha1.Sum(l)
			counts[nb] = 1
			nb++
			st.added++
			continue
		}
		count, reason := parseHashLine(l, c.src.prefix, key)
		if reason != "" {
			st.bad(c.src, line, reason)
			continue
		}
		if count < minCount {
			st.skipped++
			continue
		}
		counts[nb] = count
		nb++
		st.added++
	}
}

// hexVal maps an ASCII byte to its hex digit value, 0xff for non-hex.
const hexVal = "" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\xff\xff\xff\xff\xff\xff" +
	"\xff\x0a\x0b\x0c\x0d\x0e\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\x0a\x0b\x0c\x0d\x0e\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

// parseHashLine decodes "SHA1HEX:COUNT" (or "SUFFIX35HEX:COUNT" in a range
// file with the given prefix) into key. A line without ":COUNT" counts 1.
// It returns a reason when the line is malformed.
func parseHashLine(l []byte, prefix string, key *[20]byte) (uint64, string) {
	want := 40 - len(prefix)
	if len(l) < want {
		return 0, fmt.Sprintf("want %d hex digits, found a shorter line", want)
	}
	var bad byte
	if prefix == "" {
		h := l[:40]
		for i := range key {
			hi, lo := hexVal[h[2*i]], hexVal[h[2*i+1]]
			bad |= hi | lo
			key[i] = hi<<4 | lo&0x0f
		}
	} else {
		// A range file: 5 hex digits from the file name, 35 from the line.
		var nib [40]byte
		copy(nib[:5], prefix)
		copy(nib[5:], l[:35])
		for i := range key {
			hi, lo := hexVal[nib[2*i]], hexVal[nib[2*i+1]]
			bad |= hi | lo
			key[i] = hi<<4 | lo&0x0f
		}
	}
	if bad&0x80 != 0 {
		return 0, fmt.Sprintf("want %d hex digits, found a non-hex byte", want)
	}
	rest := l[want:]
	if len(rest) == 0 {
		return 1, ""
	}
	if rest[0] != ':' || len(rest) == 1 || len(rest) > 21 {
		return 0, fmt.Sprintf("want %d hex digits then :COUNT", want)
	}
	var count uint64
	for _, c := range rest[1:] {
		if c < '0' || c > '9' {
			return 0, "COUNT is not a decimal number"
		}
		d := uint64(c - '0')
		if count > (1<<64-1-d)/10 {
			return 0, "COUNT is too large"
		}
		count = count*10 + d
	}
	return count, ""
}
