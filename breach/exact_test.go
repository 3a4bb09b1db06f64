package breach_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safereset/safereset/breach"
)

var (
	exactN      = flag.Int("exact-n", 200_000, "hashes in the synthetic exact-store corpus (10000000 for the full proof)")
	exactProbes = flag.Int("exact-probes", 200_000, "random non-members probed for false positives (1000000 for the full proof)")
)

// corpus writes keys as HIBP lines (count i%1000+1) split over two files
// and returns their paths and the count of every key.
func corpus(t *testing.T, keys [][20]byte) ([]string, map[[20]byte]uint64) {
	t.Helper()
	dir := t.TempDir()
	want := make(map[[20]byte]uint64, len(keys))
	for i, k := range keys {
		want[k] = uint64(i%1000 + 1)
	}
	half := len(keys) / 2
	a := writeFile(t, filepath.Join(dir, "a.txt"), hibpLines(keys[:half], true, "\r\n"))
	// hibpLines restarts the counts at 1 for the second half; rewrite them
	// with the counts of their place in keys.
	var b bytes.Buffer
	for i, k := range keys[half:] {
		fmt.Fprintf(&b, "%x:%d\n", k, want[k])
		_ = i
	}
	return []string{a, writeFile(t, filepath.Join(dir, "b.txt"), b.Bytes())}, want
}

func mustOpenExact(t testing.TB, path string) *breach.Exact {
	t.Helper()
	e, err := breach.OpenExact(path)
	if err != nil {
		t.Fatalf("OpenExact: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func buildExact(t *testing.T, opts breach.BuildOptions) (bloomPath, exactPath string, rep breach.BuildReport) {
	t.Helper()
	dir := t.TempDir()
	if opts.Out == "" {
		opts.Out = filepath.Join(dir, "f.bloom")
	}
	if opts.Exact == "" {
		opts.Exact = filepath.Join(dir, "f.exact")
	}
	_, rep = mustBuild(t, opts)
	if rep.Exact == nil {
		t.Fatal("Build wrote no exact store report")
	}
	return opts.Out, opts.Exact, rep
}

func TestExact_Corpus(t *testing.T) {
	keys := genKeys(*exactN, 17)
	inputs, want := corpus(t, keys)
	bloomPath, exactPath, rep := buildExact(t, breach.BuildOptions{Inputs: inputs})
	if rep.Exact.Header.N != uint64(len(keys)) {
		t.Fatalf("exact store holds %d hashes, want %d", rep.Exact.Header.N, len(keys))
	}
	e := mustOpenExact(t, exactPath)
	if err := e.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	f := mustOpen(t, bloomPath)

	t.Run("EveryMemberWithItsCount", func(t *testing.T) {
		for _, k := range keys {
			got, err := e.Count(k)
			if err != nil {
				t.Fatal(err)
			}
			if got != want[k] {
				t.Fatalf("count of %x = %d, want %d", k, got, want[k])
			}
			if !f.ContainsSHA1(k) {
				t.Fatalf("%x is in the exact store but not in the filter", k)
			}
		}
	})
	t.Run("NoFalsePositives", func(t *testing.T) {
		bloomHits := 0
		var k [20]byte
		for range *exactProbes {
			rand.Read(k[:])
			if _, member := want[k]; member {
				continue
			}
			if f.ContainsSHA1(k) {
				bloomHits++
			}
			got, err := e.Count(k)
			if err != nil {
				t.Fatal(err)
			}
			if got != 0 {
				t.Fatalf("non-member %x has count %d", k, got)
			}
		}
		t.Logf("%d of %d random non-members hit the bloom filter; the exact store refused all", bloomHits, *exactProbes)
	})
	t.Run("RangeMatchesCorpus", func(t *testing.T) {
		byPrefix := map[string][]string{}
		for k, c := range want {
			h := strings.ToUpper(hex.EncodeToString(k[:]))
			byPrefix[h[:5]] = append(byPrefix[h[:5]], fmt.Sprintf("%s:%d", h[5:], c))
		}
		checked := 0
		for prefix, lines := range byPrefix {
			if checked == 200 {
				break
			}
			checked++
			slices.Sort(lines)
			p, ok := breach.ParsePrefix(strings.ToLower(prefix))
			if !ok {
				t.Fatalf("ParsePrefix(%q) failed", prefix)
			}
			body, n, err := e.AppendRange(nil, p, 0)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(lines) || string(body) != strings.Join(lines, "\r\n") {
				t.Fatalf("range %s:\n%q\nwant\n%q", prefix, body, strings.Join(lines, "\r\n"))
			}
			padded, n, err := e.AppendRange(nil, p, 800)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(string(padded), "\r\n")
			if n != len(lines) || len(got) < 800 || !slices.IsSorted(got) {
				t.Fatalf("padded range %s: %d lines (%d real), sorted %v", prefix, len(got), n, slices.IsSorted(got))
			}
			real := map[string]bool{}
			for _, l := range lines {
				real[l[:35]] = true
			}
			var kept []string
			seen := map[string]bool{}
			for _, l := range got {
				suffix, count, _ := strings.Cut(l, ":")
				if seen[suffix] {
					t.Fatalf("suffix %s twice in a padded answer", suffix)
				}
				seen[suffix] = true
				if count == "0" {
					if real[suffix] {
						t.Fatalf("padding line %s equals a real suffix", l)
					}
					continue
				}
				kept = append(kept, l)
			}
			if !slices.Equal(kept, lines) {
				t.Fatalf("padded range %s without padding differs from the real lines", prefix)
			}
		}
	})
}

func TestExact_PlainDuplicatesAddUp(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "pw.txt"), []byte("hunter2\npassword1\nhunter2\nhunter2\n"))
	in2 := writeFile(t, filepath.Join(dir, "pw2.txt"), []byte("password1\n"))
	_, exactPath, rep := buildExact(t, breach.BuildOptions{Inputs: []string{in, in2}, Plain: true})
	if rep.Exact.Header.N != 2 || rep.Exact.Duplicates != 3 {
		t.Fatalf("N = %d, duplicates = %d; want 2 and 3", rep.Exact.Header.N, rep.Exact.Duplicates)
	}
	e := mustOpenExact(t, exactPath)
	for pw, want := range map[string]uint64{"hunter2": 3, "password1": 2, "hunter3": 0} {
		got, err := e.Count(sha1.Sum([]byte(pw)))
		if err != nil || got != want {
			t.Errorf("Count(%s) = %d, %v; want %d", pw, got, err, want)
		}
	}
}

func TestExact_MinCountSameAsFilter(t *testing.T) {
	keys := genKeys(5000, 3)
	in := writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, false, "\n"))
	_, exactPath, rep := buildExact(t, breach.BuildOptions{Inputs: []string{in}, MinCount: 500})
	if rep.Exact.Header.N != rep.Added {
		t.Fatalf("exact store holds %d hashes, the filter got %d", rep.Exact.Header.N, rep.Added)
	}
	e := mustOpenExact(t, exactPath)
	for i, k := range keys {
		c, err := e.Count(k)
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(i%1000 + 1)
		if want < 500 {
			want = 0
		}
		if c != want {
			t.Fatalf("count of key %d = %d, want %d", i, c, want)
		}
	}
}

func TestExact_Base(t *testing.T) {
	old := genKeys(3000, 5)
	added := genKeys(2000, 6)
	dir := t.TempDir()
	in1 := writeFile(t, filepath.Join(dir, "old.txt"), hibpLines(old, true, "\n"))
	bloom1, exact1, _ := buildExact(t, breach.BuildOptions{Inputs: []string{in1}, Expected: 10000})

	// The update repeats the first 100 old hashes with a larger count and
	// one with a smaller one, and adds new ones.
	var b bytes.Buffer
	for i, k := range old[:100] {
		fmt.Fprintf(&b, "%X:%d\n", k, i%1000+1+1000)
	}
	fmt.Fprintf(&b, "%X:%d\n", old[999], 1)
	b.Write(hibpLines(added, true, "\n"))
	in2 := writeFile(t, filepath.Join(dir, "new.txt"), b.Bytes())

	t.Run("RefusedWithoutExactBase", func(t *testing.T) {
		_, err := mustBuildErr(breach.BuildOptions{Out: filepath.Join(dir, "x.bloom"), Exact: filepath.Join(dir, "x.exact"), Base: bloom1, Inputs: []string{in2}})
		if err == nil || !strings.Contains(err.Error(), "base's exact store") {
			t.Fatalf("err = %v, want a refusal naming the base's exact store", err)
		}
	})

	bloom2, exact2, rep := buildExact(t, breach.BuildOptions{Base: bloom1, ExactBase: exact1, Inputs: []string{in2}})
	if want := uint64(len(old) + len(added)); rep.Exact.Header.N != want {
		t.Fatalf("updated store holds %d hashes, want %d", rep.Exact.Header.N, want)
	}
	e := mustOpenExact(t, exact2)
	if err := e.Verify(); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, bloom2)
	for i, k := range old {
		want := uint64(i%1000 + 1)
		if i < 100 {
			want += 1000
		}
		got, err := e.Count(k)
		if err != nil || got != want {
			t.Fatalf("old key %d: count %d, %v; want %d", i, got, err, want)
		}
		if !f.ContainsSHA1(k) {
			t.Fatalf("old key %d missing from the updated filter", i)
		}
	}
	for i, k := range added {
		if got, _ := e.Count(k); got != uint64(i%1000+1) {
			t.Fatalf("added key %d: count %d", i, got)
		}
	}
}

func TestOpenExact_Refuses(t *testing.T) {
	keys := genKeys(2000, 9)
	in := writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, true, "\n"))
	bloomPath, exactPath, _ := buildExact(t, breach.BuildOptions{Inputs: []string{in}})
	good := readFile(t, exactPath)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"Truncated", good[:len(good)-1], breach.ErrCorrupt},
		{"TruncatedIndex", good[:breach.HeaderSize+100], breach.ErrCorrupt},
		{"HeaderOnly", good[:100], breach.ErrCorrupt},
		{"Padded", append(slices.Clone(good), 0), breach.ErrCorrupt},
		{"Empty", nil, breach.ErrNotExact},
		{"Filter", readFile(t, bloomPath), breach.ErrNotExact},
		{"HeaderByte", func() []byte { b := slices.Clone(good); b[20] ^= 1; return b }(), breach.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(dir, tc.name), tc.b)
			if _, err := breach.OpenExact(p); !errors.Is(err, tc.want) {
				t.Fatalf("OpenExact = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("RecordByteFailsVerify", func(t *testing.T) {
		b := slices.Clone(good)
		b[len(b)-3] ^= 0x40
		e := mustOpenExact(t, writeFile(t, filepath.Join(dir, "rec"), b))
		if err := e.Verify(); !errors.Is(err, breach.ErrCorrupt) {
			t.Fatalf("Verify = %v, want ErrCorrupt", err)
		}
	})
	t.Run("FilterRefusesExact", func(t *testing.T) {
		if _, err := breach.Open(exactPath); !errors.Is(err, breach.ErrNotFilter) {
			t.Fatalf("Open(exact store) = %v, want ErrNotFilter", err)
		}
	})
}

// A store truncated under a process that has it mapped must turn lookups
// into errors, not kill the process with SIGBUS.
func TestExact_TruncatedUnderLookup(t *testing.T) {
	keys := genKeys(50_000, 11)
	in := writeFile(t, filepath.Join(t.TempDir(), "in.txt"), hibpLines(keys, true, "\n"))
	_, exactPath, _ := buildExact(t, breach.BuildOptions{Inputs: []string{in}})
	e := mustOpenExact(t, exactPath)
	if c, err := e.Count(keys[0]); err != nil || c == 0 {
		t.Fatalf("Count before truncation = %d, %v", c, err)
	}
	if err := os.Truncate(exactPath, breach.HeaderSize); err != nil {
		t.Fatal(err)
	}
	faults := 0
	for _, k := range keys {
		if _, err := e.Count(k); err != nil {
			if !errors.Is(err, breach.ErrExactFault) {
				t.Fatalf("Count after truncation: %v, want ErrExactFault", err)
			}
			faults++
		}
	}
	if faults == 0 {
		t.Fatal("no lookup faulted after truncating the store to its header")
	}
	if _, _, err := e.AppendRange(nil, breach.PrefixOf(&keys[1]), 800); !errors.Is(err, breach.ErrExactFault) {
		t.Fatalf("AppendRange after truncation: %v, want ErrExactFault", err)
	}
	if err := e.Verify(); err == nil {
		t.Fatal("Verify passed on a truncated store")
	}
}

func TestParsePrefix(t *testing.T) {
	for s, want := range map[string]int64{"00000": 0, "fffff": 0xfffff, "FFFFF": 0xfffff, "21bD1": 0x21bd1, "": -1, "0000": -1, "000000": -1, "0000g": -1, "0000 ": -1} {
		p, ok := breach.ParsePrefix(s)
		if (want < 0) == ok || (ok && int64(p) != want) {
			t.Errorf("ParsePrefix(%q) = %#x, %v", s, p, ok)
		}
	}
}
