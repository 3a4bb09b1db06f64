package breach_test

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/bits-and-blooms/bloom/v3"
	"golang.org/x/sys/unix"

	"github.com/safereset/safereset/breach"
)

// Lookup benchmarks run on filters sized for 100 million hashes (171 MiB)
// and for the full corpus, 2.0 billion (3.35 GiB), both at FPR 0.001. The
// filters are not built from real hashes (that is BenchmarkBuild's and
// bench/run.sh's job): the words are random with half the bits set, which
// is what a filter at its design load looks like, plus the bits of a set
// of known member keys. Run with: go test -run X -bench Lookup ./breach

var sizes = []struct {
	name string
	n    uint64
}{{"100M", 100_000_000}, {"2000M", 2_000_000_000}}

// loadedFilter writes a filter file sized for n at FPR 0.001 with random
// words and the given member keys, and returns its path.
func loadedFilter(b *testing.B, n uint64, members [][20]byte) string {
	b.Helper()
	dir := b.TempDir()
	in := writeFile(b, filepath.Join(dir, "one.txt"), []byte("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\n"))
	path := filepath.Join(dir, "f.bloom")
	if _, err := mustBuildErr(breach.BuildOptions{Out: path, Inputs: []string{in}, Expected: n}); err != nil {
		b.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(mem)
	le := binary.LittleEndian
	m, k := le.Uint64(mem[16:]), le.Uint64(mem[24:])
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[breach.HeaderSize])), (m+63)/64)
	r := rand.New(rand.NewPCG(n, 7))
	for i := range words {
		words[i] = r.Uint64()
	}
	bf := bloom.FromWithM(words, uint(m), uint(k))
	for _, key := range members {
		bf.Add(key[:])
	}
	le.PutUint64(mem[72:], uint64(crc32.Checksum(mem[breach.HeaderSize:], crc32.MakeTable(crc32.Castagnoli))))
	le.PutUint32(mem[4092:], crc32.Checksum(mem[:4092], crc32.MakeTable(crc32.Castagnoli)))
	if err := unix.Msync(mem, unix.MS_SYNC); err != nil {
		b.Fatal(err)
	}
	return path
}

func BenchmarkLookup(b *testing.B) {
	members := genKeys(1<<16, 11)
	probes := genKeys(1<<20, 12) // not members
	for _, size := range sizes {
		b.Run(size.name, func(b *testing.B) {
			if size.n > 1e9 && testing.Short() {
				b.Skip("writes a 3.35 GiB file")
			}
			path := loadedFilter(b, size.n, members)
			// First as the file lies in the page cache after being written
			// (4 KiB folios)...
			g := mustOpen(b, path)
			if err := g.Verify(); err != nil {
				b.Fatal(err)
			}
			b.Logf("after write, mapped with 2 MiB pages: %s", pmdMapped())
			b.Run("MappedAfterWrite/NonMember", func(b *testing.B) {
				benchContains(b, g, probes, false)
			})
			g.Close()
			// ...then dropped from the page cache, as after a reboot, so the
			// read-ahead at Open fills it the way a server start does.
			dropCache(b, path)
			f := mustOpen(b, path)
			if err := f.Verify(); err != nil { // also pages the whole file in
				b.Fatal(err)
			}
			b.Logf("after a cold open, mapped with 2 MiB pages: %s", pmdMapped())
			b.Run("Mapped/NonMember", func(b *testing.B) {
				benchContains(b, f, probes, false)
			})
			b.Run("Mapped/Member", func(b *testing.B) {
				benchContains(b, f, members, true)
			})
			b.Run("Mapped/CheckerCheck", func(b *testing.B) {
				c := breach.NewChecker(mustOpen(b, path), breach.CheckerOptions{})
				pw := make([]string, 1<<16)
				for i := range pw {
					pw[i] = fmt.Sprintf("Pa55-%d-word!", i)
				}
				b.ResetTimer()
				for i := range b.N {
					if _, err := c.Check(pw[i&(1<<16-1)], nil); err != nil {
						b.Fatal(err)
					}
				}
			})
			// The same words read into anonymous memory backed by 2 MiB
			// pages: no page-table walk per probe.
			b.Run("InMemoryHugePages/NonMember", func(b *testing.B) {
				g := hugeCopy(b, path)
				benchContains(b, g, probes, false)
			})
			b.Run("InMemoryHugePages/Member", func(b *testing.B) {
				g := hugeCopy(b, path)
				benchContains(b, g, members, true)
			})
		})
	}
}

func benchContains(b *testing.B, f *breach.Filter, keys [][20]byte, want bool) {
	b.Helper()
	mask := len(keys) - 1
	hits := 0
	b.ResetTimer()
	for i := range b.N {
		if f.ContainsSHA1(keys[i&mask]) {
			hits++
		}
	}
	b.StopTimer()
	if want && hits != b.N {
		b.Fatalf("%d of %d members found", hits, b.N)
	}
}

// hugeCopy is the filter at path copied into huge-page-backed memory
// (what CheckerOptions.CopyToMemory swaps in).
func hugeCopy(b *testing.B, path string) *breach.Filter {
	b.Helper()
	g, err := mustOpen(b, path).InMemory(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	return g
}

// BenchmarkDRAMMiss is the yardstick: one dependent load from a random
// place in 1 GiB (a pointer chase through a random cycle of cache lines),
// on 4 KiB pages (each load also misses the TLB) and on 2 MiB pages; the
// 4GiB sizes chase over 4 GiB, more than the full-size filter spans, which
// is the latency one line of that filter costs when nothing overlaps it.
// Each size maps its span only while it runs (one 4 GiB buffer at a time)
// and fills it once, however often the benchmark is called.
func BenchmarkDRAMMiss(b *testing.B) {
	for _, span := range []struct {
		prefix string
		lines  int
	}{{"", 1 << 24}, {"4GiB-", 1 << 26}} { // 64-byte lines: 1 GiB, 4 GiB
		var perm []uint32
		for _, huge := range []bool{false, true} {
			name := span.prefix + "4KiBPages"
			if huge {
				name = span.prefix + "2MiBPages"
			}
			var next []uint32
			var mem []byte
			b.Run(name, func(b *testing.B) {
				lines := span.lines
				if lines > 1<<24 && testing.Short() {
					b.Skip("maps 4 GiB")
				}
				if perm == nil {
					perm = make([]uint32, lines)
					for i := range perm {
						perm[i] = uint32(i)
					}
					r := rand.New(rand.NewPCG(1, 1))
					for i := lines - 1; i > 0; i-- { // Sattolo: one cycle through every line
						j := r.IntN(i)
						perm[i], perm[j] = perm[j], perm[i]
					}
				}
				if mem == nil {
					var err error
					mem, err = unix.Mmap(-1, 0, lines*64, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
					if err != nil {
						b.Fatal(err)
					}
					advice := unix.MADV_NOHUGEPAGE
					if huge {
						advice = unix.MADV_HUGEPAGE
					}
					_ = unix.Madvise(mem, advice)
					next = unsafe.Slice((*uint32)(unsafe.Pointer(&mem[0])), lines*16)
					for i := range perm {
						next[perm[i]*16] = perm[(i+1)%lines] * 16
					}
					// A span the kernel could not back with huge pages
					// measures page walks too: say how much it got.
					b.Logf("%d MiB mapped, on 2 MiB pages: %s", lines>>14, smapsRollup("AnonHugePages"))
				}
				// ns/op is wall time, which on a shared machine includes
				// waits for a core; cpu-ns/op is this thread's CPU time,
				// as BenchmarkProbeBlocked reports its variants.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				p := uint32(0)
				c0 := threadCPUTime()
				b.ResetTimer()
				for range b.N {
					p = next[p]
				}
				b.StopTimer()
				b.ReportMetric(float64((threadCPUTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				if p == 1 {
					b.Log(p)
				}
			})
			if mem != nil {
				if err := unix.Munmap(mem); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// threadCPUTime is the CPU time the calling OS thread has used.
func threadCPUTime() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// smapsRollup is the value of field in /proc/self/smaps_rollup (all of
// the process's mappings), or "unknown".
func smapsRollup(field string) string {
	raw, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// BenchmarkStartup compares making a full-size filter usable by mapping
// it (Open) with reading it into memory, and measures the first checks on
// a cold page cache (the file dropped from it with fadvise).
func BenchmarkStartup(b *testing.B) {
	if testing.Short() {
		b.Skip("writes a 3.35 GiB file")
	}
	path := loadedFilter(b, 2_000_000_000, nil)
	probes := genKeys(10000, 13)
	b.Run("OpenMapped", func(b *testing.B) {
		for range b.N {
			f, err := breach.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			f.ContainsSHA1(probes[0])
			f.Close()
		}
	})
	b.Run("ReadIntoMemory", func(b *testing.B) {
		for range b.N {
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			f, err := breach.OpenBytes(data)
			if err != nil {
				b.Fatal(err)
			}
			f.ContainsSHA1(probes[0])
			f.Close()
		}
	})
	b.Run("ColdFirst10000Checks", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			dropCache(b, path)
			f, err := breach.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			for _, p := range probes {
				f.ContainsSHA1(p)
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(len(probes)), "ns/cold-check")
			b.StopTimer()
			f.Close()
		}
	})
	b.Run("VerifyWarm", func(b *testing.B) {
		for range b.N {
			f, err := breach.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Verify(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("VerifyCold", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			dropCache(b, path)
			f, err := breach.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := f.Verify(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			f.Close()
		}
	})
}

func dropCache(b *testing.B, path string) {
	b.Helper()
	fh, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	if err := unix.Fadvise(int(fh.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}

// pmdMapped reports how much of the process's file mappings the kernel
// maps with 2 MiB page-table entries.
func pmdMapped() string {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "FilePmdMapped:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "FilePmdMapped:"))
		}
	}
	return "unknown"
}
