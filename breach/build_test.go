package breach_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"

	"github.com/safereset/safereset/breach"
)

// refWords is what bloom/v3's own Add makes of keys at (m, k).
func refWords(m, k uint64, keys ...[][20]byte) []uint64 {
	ref := bloom.New(uint(m), uint(k))
	for _, ks := range keys {
		for _, key := range ks {
			ref.Add(key[:])
		}
	}
	return ref.BitSet().Words()
}

// refBlockedWords is the blocked layout (format version 2) of keys at
// (m, k), written from FORMAT.md rather than from the package: block =
// top 64 bits of SHA-1 bytes 0..7 times the block count, bit offsets nine
// bits at a time from bytes 8..15 then 16..19. It covers k ≤ 10, the
// offsets taken from the SHA-1 alone.
func refBlockedWords(t *testing.T, m, k uint64, keys ...[][20]byte) []uint64 {
	t.Helper()
	if k > 10 || m%512 != 0 {
		t.Fatalf("reference covers k <= 10 and whole blocks, got m=%d k=%d", m, k)
	}
	words := make([]uint64, m/64)
	be := binary.BigEndian
	for _, ks := range keys {
		for _, key := range ks {
			block, _ := bits.Mul64(be.Uint64(key[0:8]), m/512)
			bitsLeft := new(big.Int).SetBytes(key[8:16])
			tail := uint64(be.Uint32(key[16:20]))
			for i := range k {
				var off uint64
				if i < 7 {
					off = new(big.Int).Rsh(bitsLeft, uint(9*i)).Uint64() & 511
				} else {
					off = tail >> (9 * (i - 7)) & 511
				}
				bit := block*512 + off
				words[bit/64] |= 1 << (bit % 64)
			}
		}
	}
	return words
}

// refFor is the reference words for the layout of h.
func refFor(t *testing.T, h breach.Header, keys ...[][20]byte) []uint64 {
	t.Helper()
	if h.Version == breach.FormatV2 {
		return refBlockedWords(t, h.M, h.K, keys...)
	}
	return refWords(h.M, h.K, keys...)
}

// fileWords reads the words of a filter file by hand, not through Open.
func fileWords(t *testing.T, path string) []uint64 {
	t.Helper()
	raw := readFile(t, path)[breach.HeaderSize:]
	w := make([]uint64, len(raw)/8)
	for i := range w {
		w[i] = binary.LittleEndian.Uint64(raw[8*i:])
	}
	return w
}

// rangeDir writes keys as an HIBP range download: one file per 5-hex
// prefix holding 35-hex suffixes, plus count-0 padding lines.
func rangeDir(t *testing.T, keys [][20]byte, name func(prefix string) string, eol string, compress bool) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]*bytes.Buffer{}
	for i, k := range keys {
		h := strings.ToUpper(hex.EncodeToString(k[:]))
		b := files[h[:5]]
		if b == nil {
			b = &bytes.Buffer{}
			files[h[:5]] = b
			fmt.Fprintf(b, "%s:0%s", strings.Repeat("F", 35), eol) // padding
		}
		fmt.Fprintf(b, "%s:%d%s", h[5:], i+1, eol)
	}
	for prefix, b := range files {
		content := b.Bytes()
		if compress {
			content = gz(t, content)
		}
		writeFile(t, filepath.Join(dir, name(prefix)), content)
	}
	writeFile(t, filepath.Join(dir, "README.txt"), []byte("not a range file\n"))
	return dir
}

func TestBuild_InputForms(t *testing.T) {
	keys := genKeys(5000, 2)
	for i := range keys { // cluster the keys under 8 range prefixes 0i000
		keys[i][0], keys[i][1], keys[i][2] = byte(i%8), 0, keys[i][2]&0x0f
	}
	dir := t.TempDir()
	half := len(keys) / 2
	const expected = 5000
	tests := []struct {
		name   string
		inputs func(t *testing.T) ([]string, []byte)
	}{
		{"LowerLF", func(t *testing.T) ([]string, []byte) {
			return []string{writeFile(t, filepath.Join(dir, "lower.txt"), hibpLines(keys, false, "\n"))}, nil
		}},
		{"UpperCRLF", func(t *testing.T) ([]string, []byte) {
			return []string{writeFile(t, filepath.Join(dir, "upper.txt"), hibpLines(keys, true, "\r\n"))}, nil
		}},
		{"NoTrailingNewline", func(t *testing.T) ([]string, []byte) {
			b := hibpLines(keys, true, "\n")
			return []string{writeFile(t, filepath.Join(dir, "nonl.txt"), b[:len(b)-1])}, nil
		}},
		{"Gzip", func(t *testing.T) ([]string, []byte) {
			return []string{writeFile(t, filepath.Join(dir, "hashes.txt.gz"), gz(t, hibpLines(keys, true, "\r\n")))}, nil
		}},
		{"Stdin", func(t *testing.T) ([]string, []byte) { return []string{"-"}, hibpLines(keys, false, "\r\n") }},
		{"GzipStdinAndFile", func(t *testing.T) ([]string, []byte) {
			f := writeFile(t, filepath.Join(dir, "second-half.txt"), hibpLines(keys[half:], false, "\n"))
			return []string{"-", f}, gz(t, hibpLines(keys[:half], true, "\n"))
		}},
		{"RangeDir", func(t *testing.T) ([]string, []byte) {
			return []string{rangeDir(t, keys, func(p string) string { return p + ".txt" }, "\r\n", false)}, nil
		}},
		{"RangeDirBareLowerNamesGzip", func(t *testing.T) ([]string, []byte) {
			return []string{rangeDir(t, keys, strings.ToLower, "\n", true)}, nil
		}},
	}
	var want []uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inputs, stdin := tt.inputs(t)
			path, rep := mustBuild(t, breach.BuildOptions{Inputs: inputs, Stdin: bytes.NewReader(stdin), Expected: expected})
			if rep.Added != uint64(len(keys)) || rep.Malformed != 0 {
				t.Fatalf("report: added %d malformed %d %v, want %d, 0", rep.Added, rep.Malformed, rep.Samples, len(keys))
			}
			f := mustOpen(t, path)
			for _, k := range keys {
				if !f.ContainsSHA1(k) {
					t.Fatal("inserted hash not found")
				}
			}
			if rep.Header.Version != breach.FormatV2 {
				t.Fatalf("a new filter is format version %d, want 2 (blocked)", rep.Header.Version)
			}
			if want == nil {
				want = refFor(t, rep.Header, keys)
			}
			if !slices.Equal(fileWords(t, path), want) {
				t.Fatal("filter differs from the blocked layout of the same hashes")
			}
		})
	}
}

// The fast builder sets exactly the bits bloom/v3's Add sets (version 1)
// or the blocked layout sets (version 2), also when the filter spans many
// regions, buffers overflow and rounds repeat.
func TestBuild_FastMatchesBloomAdd(t *testing.T) {
	keys := genKeys(40000, 3)
	in := writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, true, "\n"))
	tests := []struct {
		name string
		opts breach.BuildOptions
	}{
		{"OneRegion", breach.BuildOptions{}},
		{"ManyRegionsSmallBuffers", breach.BuildOptions{Expected: 2_000_000, BufferBytes: 64 << 10, Workers: 2}},
		{"ManyRegionsOneWorker", breach.BuildOptions{Expected: 2_000_000, Workers: 1}},
		{"ThreeWorkers", breach.BuildOptions{Expected: 1_000_000, BufferBytes: 256 << 10, Workers: 3}},
		{"OneAtATime", breach.BuildOptions{Expected: 2_000_000, OneAtATime: true}},
	}
	for _, v := range []uint32{breach.FormatV1, breach.FormatV2} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("v%d/%s", v, tt.name), func(t *testing.T) {
				opts := tt.opts
				opts.Inputs = []string{in}
				opts.Version = v
				path, rep := mustBuild(t, opts)
				if rep.Header.Version != v {
					t.Fatalf("built version %d, asked for %d", rep.Header.Version, v)
				}
				got := fileWords(t, path)
				if !slices.Equal(got, refFor(t, rep.Header, keys)) {
					t.Fatalf("m=%d k=%d: filter differs from the reference layout", rep.Header.M, rep.Header.K)
				}
				if v == breach.FormatV1 && !slices.Equal(mustOpen(t, path).Bloom().BitSet().Words(), got) {
					t.Fatal("Bloom() is not the file's words")
				}
			})
		}
	}
}

func TestBuild_FalsePositiveRate(t *testing.T) {
	const n, target, probes = 20000, 0.01, 200000
	keys := genKeys(n, 4)
	path, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, false, "\n"))}, FPR: target})
	f := mustOpen(t, path)
	fp := 0
	for _, k := range genKeys(probes, 5) { // different seed: not inserted
		if f.ContainsSHA1(k) {
			fp++
		}
	}
	rate := float64(fp) / probes
	t.Logf("measured FPR %.5f, target %.3f, expected %.5f, from fill %.5f", rate, target, rep.ExpectedFPR, rep.FillFPR)
	if rate > 1.5*target {
		t.Fatalf("measured false-positive rate %.5f is above 1.5 x %.3f", rate, target)
	}
	if rep.ExpectedFPR > target*1.01 || rep.FillFPR > 1.5*target {
		t.Fatalf("report: expected %.5f fill %.5f for target %.3f", rep.ExpectedFPR, rep.FillFPR, target)
	}
}

// A --base update keeps the base's layout: a v1 base gives v1, a v2 base
// v2, and asking for the other version is refused.
func TestBuild_BaseUpdate(t *testing.T) {
	for _, v := range []uint32{breach.FormatV1, breach.FormatV2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { testBaseUpdate(t, v) })
	}
}

func testBaseUpdate(t *testing.T, v uint32) {
	old, added := genKeys(3000, 6), genKeys(2000, 7)
	dir := t.TempDir()
	basePath, baseRep := mustBuild(t, breach.BuildOptions{Inputs: []string{writeFile(t, filepath.Join(dir, "old.txt"), hibpLines(old, true, "\n"))}, Expected: 6000, Version: v})
	newIn := writeFile(t, filepath.Join(dir, "new.txt"), hibpLines(added, true, "\n"))
	path, rep := mustBuild(t, breach.BuildOptions{Base: basePath, Inputs: []string{newIn}, FPR: 0.5})
	h := rep.Header
	if h.Version != v || h.M != baseRep.Header.M || h.K != baseRep.Header.K || h.TargetFPR != baseRep.Header.TargetFPR || h.N != 5000 || rep.Added != 2000 {
		t.Fatalf("updated header %+v, base %+v", h, baseRep.Header)
	}
	if !(rep.ExpectedFPR > baseRep.ExpectedFPR) {
		t.Fatalf("expected FPR %.6f did not grow from %.6f", rep.ExpectedFPR, baseRep.ExpectedFPR)
	}
	f := mustOpen(t, path)
	if f.Header().Version != v {
		t.Fatalf("opened version %d, want %d", f.Header().Version, v)
	}
	if !slices.Equal(fileWords(t, path), refFor(t, h, old, added)) {
		t.Fatal("updated filter differs from the reference layout of old and new hashes")
	}
	if err := f.Verify(); err != nil {
		t.Fatal(err)
	}
	other := uint32(breach.FormatV1 + breach.FormatV2 - v)
	if _, err := mustBuildErr(breach.BuildOptions{Base: basePath, Out: filepath.Join(t.TempDir(), "x.bloom"), Inputs: []string{newIn}, Version: other}); err == nil || !strings.Contains(err.Error(), "keeps its layout") {
		t.Fatalf("update of a v%d base asked for v%d: err = %v", v, other, err)
	}

	t.Run("TruncatedBaseRefused", func(t *testing.T) {
		b := readFile(t, basePath)
		bad := writeFile(t, filepath.Join(t.TempDir(), "short.bloom"), b[:len(b)-8])
		_, err := mustBuildErr(breach.BuildOptions{Base: bad, Out: filepath.Join(t.TempDir(), "x.bloom"), Inputs: []string{hibpFile(t, "x")}})
		if !errors.Is(err, breach.ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("Build on truncated base = %v, want ErrCorrupt (truncated)", err)
		}
	})
	t.Run("CorruptBaseRefused", func(t *testing.T) {
		b := readFile(t, basePath)
		b[len(b)-1] ^= 1
		bad := writeFile(t, filepath.Join(t.TempDir(), "bad.bloom"), b)
		_, err := mustBuildErr(breach.BuildOptions{Base: bad, Out: filepath.Join(t.TempDir(), "x.bloom"), Inputs: []string{hibpFile(t, "x")}})
		if !errors.Is(err, breach.ErrCorrupt) {
			t.Fatalf("Build on corrupt base = %v, want ErrCorrupt", err)
		}
	})
}

func TestBuild_MalformedLines(t *testing.T) {
	keys := genKeys(3, 8)
	good := strings.Split(string(hibpLines(keys, true, "\n")), "\n")
	in := strings.Join([]string{
		good[0],               // 1
		"hello world",         // 2: malformed
		good[1][:39],          // 3: malformed, 39 hex
		"",                    // 4: blank, ignored
		good[2][:40] + ":12x", // 5: malformed count
		good[2],               // 6
		good[1][:40],          // 7: no count, counts 1
		good[0][:40] + ":3:4", // 8: malformed
		good[0],               // 9
		good[1],               // 10
	}, "\r\n")
	path := writeFile(t, filepath.Join(t.TempDir(), "in.txt"), []byte(in))
	_, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{path}})
	if rep.Added != 5 || rep.Malformed != 4 || rep.Lines != 9 {
		t.Fatalf("added %d malformed %d lines %d, want 5, 4, 9", rep.Added, rep.Malformed, rep.Lines)
	}
	var lines []uint64
	for _, s := range rep.Samples {
		if s.Input != path {
			t.Errorf("sample input %q", s.Input)
		}
		lines = append(lines, s.Line)
	}
	if !slices.Equal(lines, []uint64{2, 3, 5, 8}) {
		t.Fatalf("malformed line numbers %v, want [2 3 5 8] (%v)", lines, rep.Samples)
	}

	t.Run("MostlyMalformedIsFatal", func(t *testing.T) {
		junk := writeFile(t, filepath.Join(t.TempDir(), "junk.txt"), []byte(good[0]+"\nthis\nis\nnot\nhibp\n"))
		_, err := mustBuildErr(breach.BuildOptions{Inputs: []string{junk}, Out: filepath.Join(t.TempDir(), "x.bloom")})
		if !errors.Is(err, breach.ErrMostlyMalformed) || !strings.Contains(err.Error(), "junk.txt:2") {
			t.Fatalf("err = %v, want ErrMostlyMalformed naming junk.txt:2", err)
		}
	})
	t.Run("LineNumbersAcrossChunks", func(t *testing.T) {
		// 20000 good lines (about 880 KB, several chunks), then a bad one.
		b := hibpLines(genKeys(20000, 9), false, "\n")
		b = append(b, "bad\n"...)
		_, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{writeFile(t, filepath.Join(t.TempDir(), "big.txt"), b)}, Workers: 2})
		if rep.Malformed != 1 || rep.Samples[0].Line != 20001 {
			t.Fatalf("malformed %d samples %v, want line 20001", rep.Malformed, rep.Samples)
		}
	})
}

func TestBuild_MinCount(t *testing.T) {
	keys := genKeys(10, 10) // hibpLines gives counts 1..10
	path, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, true, "\n"))}, MinCount: 4, Expected: 10})
	if rep.Added != 7 || rep.Skipped != 3 {
		t.Fatalf("added %d skipped %d, want 7, 3", rep.Added, rep.Skipped)
	}
	if !slices.Equal(fileWords(t, path), refFor(t, rep.Header, keys[3:])) {
		t.Fatal("filter is not exactly the hashes with count >= 4")
	}
}

func TestBuild_Errors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.bloom")
	in := hibpFile(t, "x")
	tests := []struct {
		name string
		opts breach.BuildOptions
		want string
	}{
		{"NoInputs", breach.BuildOptions{Out: out}, "no inputs"},
		{"NoOut", breach.BuildOptions{Inputs: []string{in}}, "no output"},
		{"BadFPR", breach.BuildOptions{Out: out, Inputs: []string{in}, FPR: 1.5}, "between 0 and 1"},
		{"StdinNeedsExpected", breach.BuildOptions{Out: out, Inputs: []string{"-"}, Stdin: strings.NewReader("")}, "--expected"},
		{"MissingInput", breach.BuildOptions{Out: out, Inputs: []string{filepath.Join(t.TempDir(), "nope")}}, "no such file"},
		{"EmptyDir", breach.BuildOptions{Out: out, Inputs: []string{t.TempDir()}}, "no range files"},
		{"TruncatedGzip", breach.BuildOptions{Out: out, Inputs: []string{writeFile(t, filepath.Join(t.TempDir(), "t.gz"), gz(t, hibpLines(genKeys(2000, 1), true, "\n"))[:5000])}, Expected: 10}, "unexpected EOF"},
		{"CancelledContext", breach.BuildOptions{Out: out, Inputs: []string{in}, Expected: 10}, "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.name == "CancelledContext" {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			_, err := breach.Build(ctx, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Fatal("a failed build left an output file")
			}
		})
	}
}
