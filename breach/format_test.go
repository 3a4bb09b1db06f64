package breach_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/safereset/safereset/breach"
)

// The words on disk are little-endian and the header describes them: read
// back by hand (not through this package), they form the same bloom filter
// as bloom/v3's own Add of the same keys.
func TestFormat_RoundTripLittleEndian(t *testing.T) {
	keys := genKeys(3000, 1)
	path, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, true, "\n"))}, Version: breach.FormatV1})
	raw := readFile(t, path)
	le := binary.LittleEndian
	if string(raw[:8]) != breach.Magic || le.Uint32(raw[8:]) != breach.FormatV1 {
		t.Fatalf("bad magic/version: %q", raw[:12])
	}
	m, k, n := le.Uint64(raw[16:]), le.Uint64(raw[24:]), le.Uint64(raw[32:])
	if m != rep.Header.M || k != rep.Header.K || n != 3000 {
		t.Fatalf("header m=%d k=%d n=%d, report %+v", m, k, n, rep.Header)
	}
	words := make([]uint64, (m+63)/64)
	if len(raw) != breach.HeaderSize+8*len(words) {
		t.Fatalf("file is %d bytes, want %d", len(raw), breach.HeaderSize+8*len(words))
	}
	for i := range words {
		words[i] = le.Uint64(raw[breach.HeaderSize+8*i:])
	}
	if got, want := le.Uint64(raw[72:]), uint64(crc32.Checksum(raw[breach.HeaderSize:], crc32.MakeTable(crc32.Castagnoli))); got != want {
		t.Fatalf("checksum %#x, want CRC-32C %#x", got, want)
	}
	ref := bloom.New(uint(m), uint(k))
	for _, key := range keys {
		ref.Add(key[:])
	}
	// (bloom's Equal would also compare the bitset length, which FromWithM
	// rounds up to whole words, so compare the words.)
	if !slices.Equal(words, ref.BitSet().Words()) {
		t.Fatal("file words differ from bloom/v3's Add of the same keys")
	}
	// And the mapped filter is that same filter, and finds every key.
	f := mustOpen(t, path)
	if got := f.Bloom(); !slices.Equal(got.BitSet().Words(), ref.BitSet().Words()) || got.Cap() != uint(m) || got.K() != uint(k) {
		t.Fatal("Open's filter differs from bloom/v3's Add of the same keys")
	}
	for _, key := range keys {
		if !f.Bloom().Test(key[:]) {
			t.Fatal("inserted key not found by bloom's Test")
		}
	}
}

// The same for version 2: the words are the blocked layout of FORMAT.md,
// and Bloom is nil since they are not bloom/v3's.
func TestFormat_RoundTripBlocked(t *testing.T) {
	keys := genKeys(3000, 1)
	path, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, true, "\n"))}})
	raw := readFile(t, path)
	le := binary.LittleEndian
	if string(raw[:8]) != breach.Magic || le.Uint32(raw[8:]) != breach.FormatV2 || breach.FormatVersion != breach.FormatV2 {
		t.Fatalf("bad magic/version: %q", raw[:12])
	}
	m, k := le.Uint64(raw[16:]), le.Uint64(raw[24:])
	if m != rep.Header.M || k != rep.Header.K || m%512 != 0 || len(raw) != breach.HeaderSize+int(m/8) {
		t.Fatalf("header m=%d k=%d, file %d bytes, report %+v", m, k, len(raw), rep.Header)
	}
	if got, want := le.Uint64(raw[72:]), uint64(crc32.Checksum(raw[breach.HeaderSize:], crc32.MakeTable(crc32.Castagnoli))); got != want {
		t.Fatalf("checksum %#x, want CRC-32C %#x", got, want)
	}
	if !slices.Equal(fileWords(t, path), refBlockedWords(t, m, k, keys)) {
		t.Fatal("file words differ from the blocked layout of the same keys")
	}
	f := mustOpen(t, path)
	if f.Bloom() != nil {
		t.Fatal("Bloom() of a blocked filter is not nil")
	}
	if err := f.Verify(); err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		if !f.ContainsSHA1(key) {
			t.Fatal("inserted key not found")
		}
	}
}

// Both versions refuse a truncated, foreign or corrupt file the same way.
func TestOpen_RefusesBadFiles(t *testing.T) {
	for _, v := range []uint32{breach.FormatV1, breach.FormatV2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { testOpenRefusesBadFiles(t, v) })
	}
}

func testOpenRefusesBadFiles(t *testing.T, v uint32) {
	path, _ := mustBuild(t, breach.BuildOptions{Inputs: []string{hibpFile(t, "password", "letmein")}, Version: v})
	good := readFile(t, path)
	mutate := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	fixHeaderCRC := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[4092:], crc32.Checksum(b[:4092], crc32.MakeTable(crc32.Castagnoli)))
		return b
	}
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"Empty", nil, breach.ErrNotFilter},
		{"Foreign", []byte("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\n"), breach.ErrNotFilter},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), breach.ErrNotFilter},
		{"TruncatedHeader", good[:100], breach.ErrCorrupt},
		{"TruncatedWords", good[:len(good)-1], breach.ErrCorrupt},
		{"TrailingBytes", append(append([]byte(nil), good...), 0), breach.ErrCorrupt},
		{"HeaderBitFlip", mutate(func(b []byte) []byte { b[20] ^= 1; return b }), breach.ErrCorrupt},
		{"FutureVersion", mutate(func(b []byte) []byte { b[8] = 3; return fixHeaderCRC(b) }), breach.ErrVersion},
		{"ZeroVersion", mutate(func(b []byte) []byte { b[8] = 0; return fixHeaderCRC(b) }), breach.ErrVersion},
		{"ZeroK", mutate(func(b []byte) []byte { clear(b[24:32]); return fixHeaderCRC(b) }), breach.ErrCorrupt},
		{"HugeM", mutate(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[16:], 1<<50); return fixHeaderCRC(b) }), breach.ErrCorrupt},
		{"WordsDisagreeWithM", mutate(func(b []byte) []byte { b[16]++; b[17]++; return fixHeaderCRC(b) }), breach.ErrCorrupt},
		{"BadFPR", mutate(func(b []byte) []byte { clear(b[40:48]); return fixHeaderCRC(b) }), breach.ErrCorrupt},
	}
	if v == breach.FormatV2 {
		le := binary.LittleEndian
		tests = append(tests, []struct {
			name string
			file []byte
			want error
		}{
			// m one word short of whole blocks, words and length to match.
			{"PartialBlock", mutate(func(b []byte) []byte {
				m := le.Uint64(b[16:]) - 64
				le.PutUint64(b[16:], m)
				le.PutUint64(b[56:], m/64)
				return fixHeaderCRC(b[:len(b)-8])
			}), breach.ErrCorrupt},
			{"KBeyondBlockedBits", mutate(func(b []byte) []byte { le.PutUint64(b[24:], 39); return fixHeaderCRC(b) }), breach.ErrCorrupt},
		}...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(t.TempDir(), "f.bloom"), tt.file)
			f, err := breach.Open(p)
			if !errors.Is(err, tt.want) {
				if f != nil {
					f.Close()
				}
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
			if _, err := breach.OpenBytes(tt.file); !errors.Is(err, tt.want) {
				t.Fatalf("OpenBytes = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("Directory", func(t *testing.T) {
		if _, err := breach.Open(t.TempDir()); err == nil {
			t.Fatal("Open(directory) succeeded")
		}
	})
	t.Run("Missing", func(t *testing.T) {
		if _, err := breach.Open(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Open(missing) = %v", err)
		}
	})
	t.Run("WordBitFlipCaughtByVerify", func(t *testing.T) {
		b := mutate(func(b []byte) []byte { b[breach.HeaderSize+3] ^= 0x10; return b })
		f := mustOpen(t, writeFile(t, filepath.Join(t.TempDir(), "f.bloom"), b))
		if err := f.Verify(); !errors.Is(err, breach.ErrCorrupt) {
			t.Fatalf("Verify = %v, want ErrCorrupt", err)
		}
		if err := mustOpen(t, path).Verify(); err != nil {
			t.Fatalf("Verify(good) = %v", err)
		}
	})
}
