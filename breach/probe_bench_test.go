package breach

import (
	"encoding/binary"
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
)

// probeVariants are the ways of touching the k words compared by
// BenchmarkProbeAB; bloom's own Test is the baseline.
var probeVariants = []struct {
	name string
	fn   func(p *probe, key *[20]byte) bool
}{
	{"early", (*probe).early},
	{"gather", (*probe).gather},
	{"firstThenGather", (*probe).firstThenGather},
	{"prefetchEarly", (*probe).prefetchEarly},
}

// BenchmarkProbeAB compares bloom/v3's Test with the probe variants on a
// filter file sized for the full corpus (2.0 billion hashes at FPR 0.001,
// 3.35 GiB) and one for 100 million (171 MiB), mapped as Open maps it and
// paged in after a cold open, so TLB and cache misses are those of a
// server. The words are random with half the bits set (a filter at its
// design load) plus the bits of 65 536 member keys. The variants run in
// alternating blocks of 4096 lookups, so each sees the same machine load;
// each reports its mean wall and on-CPU ns per lookup as metrics (ns/op is
// the mean over all of them and means nothing on its own).
//
//	go test -run '^$' -bench ProbeAB -count 10 -timeout 60m ./breach
func BenchmarkProbeAB(b *testing.B) {
	for _, size := range []struct {
		name string
		n    uint
	}{{"100M", 100_000_000}, {"2000M", 2_000_000_000}} {
		b.Run(size.name, func(b *testing.B) {
			if size.n > 1e9 && testing.Short() {
				b.Skip("writes a 3.35 GiB file")
			}
			members := randomKeys(1<<16, 21)
			nonMembers := randomKeys(1<<20, 22)
			f := syntheticFilter(b, size.n, members)
			b.Logf("%s: %d MiB, k=%d, mapped with 2 MiB pages: %s", size.name, len(f.data)>>20, f.hdr.K, filePmdMapped())
			p := newProbe(f.bf.BitSet().Words(), Header{Version: FormatV1, M: f.hdr.M, K: f.hdr.K})
			bf := f.bf
			fns := []struct {
				name string
				fn   func(key *[20]byte) bool
			}{{"bloomTest", func(k *[20]byte) bool { return bf.Test(k[:]) }},
				// What a server check calls: the probe inside the guard
				// against a file changed under the mapping.
				{"lookupGuarded", func(k *[20]byte) bool { found, _ := f.Lookup(*k); return found }}}
			for _, v := range probeVariants {
				fns = append(fns, struct {
					name string
					fn   func(key *[20]byte) bool
				}{v.name, func(k *[20]byte) bool { return v.fn(&p, k) }})
			}
			// Cost only, not a membership test of this filter: what a
			// lookup would cost if it touched one cache line (a blocked
			// layout, all k bits in one 64-byte block) or two (a
			// non-member's usual two probes), with the same hashing.
			nCheck := len(fns)
			fns = append(fns, struct {
				name string
				fn   func(key *[20]byte) bool
			}{"cost1Line", func(k *[20]byte) bool { return p.costLines(k, 1) }},
				struct {
					name string
					fn   func(key *[20]byte) bool
				}{"cost2Lines", func(k *[20]byte) bool { return p.costLines(k, 2) }})
			for _, set := range []struct {
				name string
				keys [][20]byte
				want bool
			}{{"Member", members, true}, {"NonMember", nonMembers, false}} {
				b.Run(set.name, func(b *testing.B) {
					// On-CPU time of this thread as well as wall time:
					// on a shared machine the wall time also counts the
					// time the thread waits for a core.
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					const block = 4096
					spent := make([]time.Duration, len(fns))
					oncpu := make([]time.Duration, len(fns))
					done := make([]int, len(fns))
					mask := len(set.keys) - 1
					hits, wantHits := 0, 0
					j := 0
					for i := 0; i < b.N; {
						v := (i / block) % len(fns)
						n := min(block, b.N-i)
						fn := fns[v].fn
						t0, c0 := time.Now(), threadCPU()
						h := 0
						for range n {
							if fn(&set.keys[j&mask]) {
								h++
							}
							j++
						}
						spent[v] += time.Since(t0)
						oncpu[v] += threadCPU() - c0
						done[v] += n
						i += n
						if v < nCheck {
							hits += h
							if set.want {
								wantHits += n
							}
						}
					}
					if set.want && hits != wantHits {
						b.Fatalf("%d of %d members found", hits, wantHits)
					}
					for v := range fns {
						if done[v] > 0 {
							b.ReportMetric(float64(spent[v].Nanoseconds())/float64(done[v]), fns[v].name+"-ns")
							b.ReportMetric(float64(oncpu[v].Nanoseconds())/float64(done[v]), fns[v].name+"-cpu-ns")
						}
					}
				})
			}
		})
	}
}

// costLines touches as many cache lines as a lookup of a blocked layout
// (lines 1: k bits of the 64-byte block the first position falls in) or
// the first lines positions, and combines the bits without branching.
func (p *probe) costLines(key *[20]byte, lines int) bool {
	var pos [maxK]uint64
	p.positions(key, &pos)
	w := p.words
	all := uint64(1)
	if lines == 1 {
		blk := min((pos[0]>>9)<<3, uint64(len(w)-8)) // first word of the 512-bit block
		for i, q := range pos[:p.k] {
			all &= w[blk+uint64(i)&7] >> (q & 63)
		}
		return all&1 == 1
	}
	for _, q := range pos[:lines] {
		all &= w[q>>6] >> (q & 63)
	}
	return all&1 == 1
}

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func randomKeys(n int, seed uint64) [][20]byte {
	r := rand.New(rand.NewPCG(seed, seed))
	keys := make([][20]byte, n)
	for i := range keys {
		binary.LittleEndian.PutUint64(keys[i][0:], r.Uint64())
		binary.LittleEndian.PutUint64(keys[i][8:], r.Uint64())
		binary.LittleEndian.PutUint32(keys[i][16:], r.Uint32())
	}
	return keys
}

// syntheticFilter writes a filter file sized for n hashes at FPR 0.001
// whose words are random (half the bits set) plus the bits of members,
// drops it from the page cache, opens it with Open and pages it in, as a
// server start does.
func syntheticFilter(b *testing.B, n uint, members [][20]byte) *Filter {
	return syntheticFilterVersion(b, n, members, FormatV1)
}

// syntheticFilterVersion is syntheticFilter in the layout of version,
// sized as the builder sizes it.
func syntheticFilterVersion(b *testing.B, n uint, members [][20]byte, version uint32) *Filter {
	b.Helper()
	m, k := bloom.EstimateParameters(n, 0.001)
	mb, kb := uint64(m), uint64(k)
	if version == FormatV2 {
		blocks, k2 := blockedParameters(uint64(n), 0.001)
		mb, kb = blocks*blockBits, k2
	}
	h := Header{Version: version, M: mb, K: kb, N: uint64(n), TargetFPR: 0.001, Words: (mb + 63) / 64,
		ChecksumAlg: ChecksumCRC32C, BuiltAt: time.Unix(0, 0), Source: "synthetic"}
	path := filepath.Join(b.TempDir(), "f.bloom")
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	size := int(h.FileSize())
	if err := fh.Truncate(int64(size)); err != nil {
		b.Fatal(err)
	}
	mem, err := unix.Mmap(int(fh.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[HeaderSize])), h.Words)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range words {
		words[i] = r.Uint64()
	}
	p := newProbe(words, h)
	for i := range members {
		var pos [maxK]uint64
		p.positions(&members[i], &pos)
		for _, q := range pos[:h.K] {
			words[q>>6] |= 1 << (q & 63)
		}
	}
	h.Checksum = checksumWords(mem[HeaderSize:])
	head, err := h.marshal()
	if err != nil {
		b.Fatal(err)
	}
	copy(mem, head)
	if err := unix.Msync(mem, unix.MS_SYNC); err != nil {
		b.Fatal(err)
	}
	if err := unix.Munmap(mem); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(fh.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
	// Closed before Open, as a server finds a built file: a descriptor
	// open for writing would keep the kernel from granting Open its lease.
	if err := fh.Close(); err != nil {
		b.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if err := f.Verify(); err != nil { // pages it all in
		b.Fatal(err)
	}
	return f
}

// filePmdMapped reports how much of the process's file mappings the
// kernel maps with 2 MiB page-table entries.
func filePmdMapped() string { return smapsField("FilePmdMapped") }

// smapsField is the value of field in /proc/self/smaps_rollup (all of the
// process's mappings), or "unknown".
func smapsField(field string) string {
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
