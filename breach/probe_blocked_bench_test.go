package breach

import (
	"math/bits"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// BenchmarkProbeBlocked compares a member or non-member lookup on a
// version 1 filter (bloom/v3 layout, k cache lines) with one on a version
// 2 filter (blocked, one cache line) of the same corpus size and target
// rate, by the method of BenchmarkProbeAB: synthetic files (random words,
// half the bits set, plus 65 536 members' bits) mapped as Open maps them
// and paged in, the variants run in alternating blocks of 4096 lookups on
// one locked thread, each reporting its mean wall and on-CPU ns per lookup
// (ns/op is the mean over all of them and means nothing on its own). Both
// files are resident at once: 3.35 GiB and 3.61 GiB at full size, twice
// what the TLB and caches cover for a server holding one filter, so the
// "only" sizes map the v2 file alone, as BenchmarkProbeAB maps v1 alone.
//
// Most variants look up the keys in order, independently of each other's
// answers, so the CPU overlaps the misses of consecutive lookups. A server
// does one lookup per request, with microseconds of other work between
// two, so nothing overlaps there: the "Serial" variants make each lookup's
// key index depend on the previous lookup through data (its answer as a
// number and the word it loaded, no branch), so a lookup cannot start
// before the previous one's line has arrived. floorSerial is the memory
// latency those are held to: a dependent chain of single random line
// loads over the same mapping, the next line computed from the loaded
// word, no bit tests; floorKeysSerial is the same chain over the lines of
// the keys looked up. The metrics v2Serial/floorSerial and
// v2Serial/floorKeysSerial are ratios of on-CPU time.
//
//	go test -run '^$' -bench ProbeBlocked -count 5 -timeout 60m ./breach
//	go test -run '^$' -bench 'ProbeBlocked/2000M-v2only' -benchtime 3000000x -count 5 -timeout 60m -v ./breach
//	go test -run '^$' -bench 'ProbeBlocked/2000M-v2memory' -benchtime 3000000x -count 5 -timeout 60m -v ./breach
func BenchmarkProbeBlocked(b *testing.B) {
	for _, size := range []struct {
		name   string
		n      uint
		v2only bool
		memory bool // the v2 filter copied into memory (serve --breach-in-memory), the mapping closed
	}{{"100M", 100_000_000, false, false}, {"2000M", 2_000_000_000, false, false}, {"2000M-v2only", 2_000_000_000, true, false},
		{"2000M-v2memory", 2_000_000_000, true, true}} {
		b.Run(size.name, func(b *testing.B) {
			if size.n > 1e9 && testing.Short() {
				b.Skip("writes 7 GiB of files")
			}
			members := randomKeys(1<<16, 21)
			nonMembers := randomKeys(1<<20, 22)
			var fns []blockRunner
			if !size.v2only {
				v1 := syntheticFilterVersion(b, size.n, members, FormatV1)
				b.Logf("%s: v1 %d MiB k=%d", size.name, len(v1.data)>>20, v1.hdr.K)
				fns = append(fns,
					// What a server check calls: the probe inside the guard.
					independent("v1Lookup", func(k *[20]byte) bool { found, _ := v1.Lookup(*k); return found }),
					// The bare probe, without the guard's fstat.
					independent("v1Contains", func(k *[20]byte) bool { return v1.ContainsSHA1(*k) }))
			}
			v2 := syntheticFilterVersion(b, size.n, members, FormatV2)
			b.Logf("%s: v2 %d MiB k=%d; mapped with 2 MiB pages: %s; change guard: %s", size.name, len(v2.data)>>20, v2.hdr.K, filePmdMapped(), v2.Guard())
			if size.memory {
				// What a server with --breach-in-memory looks up in: the
				// Checker's copy (Filter.InMemory), which no file change
				// can reach, so its Lookup makes no fstat.
				g, err := v2.InMemory(nil)
				if err != nil {
					b.Fatal(err)
				}
				v2.Close()
				v2 = g
				b.Cleanup(func() { g.Close() })
				b.Logf("%s: copied into memory, on 2 MiB pages: %s", size.name, smapsField("AnonHugePages"))
			}
			p := &v2.probe
			v2Contains := func(k *[20]byte) bool { return v2.ContainsSHA1(*k) }
			fns = append(fns,
				independent("v2Contains", v2Contains),
				// ContainsSHA1 takes the key by value: the caller copies it
				// with two overlapping 16-byte stores (bytes 0..15, 4..19),
				// and the probe's 8-byte load of bytes 0..7 (the block
				// index) straddles them. By the measurements such a load
				// waits for the stores to retire, behind the previous
				// lookup's miss, so v2Contains overlaps lookups no more
				// than v2Serial does. v2ContainsDirect is the same probe
				// on the caller's key, v2ContainsCopy on a copy.
				independent("v2ContainsDirect", p.containsBlocked),
				independent("v2ContainsCopy", func(k *[20]byte) bool { key := *k; return p.containsBlocked(&key) }),
				independent("v2PrefetchEarly", p.blockedPrefetchEarly),
				independent("v2PrefetchAnd", p.blockedPrefetchAnd),
				independent("v2OffsetsAnd", p.blockedOffsetsAnd),
				independent("v2LoadFirst", p.blockedLoadFirst),
				serial("v2Serial", p, v2Contains),
				serial("v2DirectSerial", p, p.containsBlocked),
				serial("v2PrefetchEarlySerial", p, p.blockedPrefetchEarly),
				serial("v2OffsetsAndSerial", p, p.blockedOffsetsAnd),
				serial("v2LoadFirstSerial", p, p.blockedLoadFirst),
				floorSerial(p.words, p.blocks),
				floorKeysSerial(p),
				independent("v2Lookup", func(k *[20]byte) bool { found, _ := v2.Lookup(*k); return found }),
				// The block after v2Lookup's (an fstat per lookup) runs
				// slower: it is this variant, so that v2Contains and the
				// others follow a plain probe's block, and the difference
				// is visible.
				independent("v2ContainsAfterLookup", v2Contains))
			for _, set := range []struct {
				name string
				keys [][20]byte
				want bool
			}{{"Member", members, true}, {"NonMember", nonMembers, false}} {
				b.Run(set.name, func(b *testing.B) {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					const block = 4096
					spent := make([]time.Duration, len(fns))
					oncpu := make([]time.Duration, len(fns))
					done := make([]int, len(fns))
					hits := make([]int, len(fns))
					// One key index for all variants, so each block looks up
					// keys the blocks before it did not just bring into the
					// caches.
					j := 0
					for i := 0; i < b.N; {
						v := (i / block) % len(fns)
						n := min(block, b.N-i)
						t0, c0 := time.Now(), threadCPU()
						h, next := fns[v].run(set.keys, j, n)
						spent[v] += time.Since(t0)
						oncpu[v] += threadCPU() - c0
						hits[v] += h
						j = next
						done[v] += n
						i += n
					}
					for v := range fns {
						if fns[v].lookup && set.want && hits[v] != done[v] {
							b.Fatalf("%s: %d of %d members found", fns[v].name, hits[v], done[v])
						}
					}
					perOp := func(name string) float64 {
						for v := range fns {
							if fns[v].name == name && done[v] > 0 {
								return float64(oncpu[v].Nanoseconds()) / float64(done[v])
							}
						}
						return 0
					}
					for v := range fns {
						if done[v] > 0 {
							b.ReportMetric(float64(spent[v].Nanoseconds())/float64(done[v]), fns[v].name+"-ns")
							b.ReportMetric(perOp(fns[v].name), fns[v].name+"-cpu-ns")
						}
					}
					if fl := perOp("floorSerial"); fl > 0 {
						b.ReportMetric(perOp("v2Serial")/fl, "v2Serial/floorSerial")
					}
					if fl := perOp("floorKeysSerial"); fl > 0 {
						b.ReportMetric(perOp("v2Serial")/fl, "v2Serial/floorKeysSerial")
					}
				})
			}
		})
	}
}

// A blockRunner runs n lookups of keys starting at index j and returns
// how many answered true and the index to go on from.
type blockRunner struct {
	name string
	// lookup: run's count is of members found (floorSerial's is not).
	lookup bool
	run    func(keys [][20]byte, j, n int) (hits, next int)
}

// independent looks up consecutive keys; no lookup waits for another.
func independent(name string, fn func(*[20]byte) bool) blockRunner {
	return blockRunner{name: name, lookup: true, run: func(keys [][20]byte, j, n int) (int, int) {
		mask := len(keys) - 1
		hits := 0
		for range n {
			if fn(&keys[j&mask]) {
				hits++
			}
			j++
		}
		return hits, j
	}}
}

// serial makes each key index depend on the previous lookup through data:
// j += 1 + found, with found read as the byte it is (0 or 1), so the
// compiler emits no branch on it, plus the first word of the key's block
// ANDed with a zero the compiler cannot see. The word is what ties the
// chain to the load: an early-exit probe computes its answer by branches,
// which the CPU predicts and runs past before the line arrives, so its
// answer alone would let the next lookup start early. The word is in L1
// once the probe has loaded its line; reading it costs a few cycles.
func serial(name string, p *probe, fn func(*[20]byte) bool) blockRunner {
	return blockRunner{name: name, lookup: true, run: func(keys [][20]byte, j, n int) (int, int) {
		mask := len(keys) - 1
		hits := 0
		for range n {
			key := &keys[j&mask]
			found := fn(key)
			f := int(*(*uint8)(unsafe.Pointer(&found)))
			w := p.words[blockOf(key, p.blocks)*blockWords]
			hits += f
			j += 1 + f + int(w&serialZero)
		}
		return hits, j
	}}
}

// serialZero is 0; a variable, so that w&serialZero is computed.
var serialZero uint64

// floorKeysSerial is serial without a probe: for the same keys in the
// same order as the serial variants it loads the first word of the key's
// block, and the next key index depends on that word. It touches the
// lines a probe touches, with their reuse (65 536 members come round
// again; floorSerial's random lines over the whole file rarely do), so
// v2Serial/floorKeysSerial is what the probe costs above its one load.
func floorKeysSerial(p *probe) blockRunner {
	return blockRunner{name: "floorKeysSerial", run: func(keys [][20]byte, j, n int) (int, int) {
		mask := len(keys) - 1
		for range n {
			w := p.words[blockOf(&keys[j&mask], p.blocks)*blockWords]
			j += 1 + int(w&serialZero)
		}
		return 0, j
	}}
}

// floorSerial chases single random cache lines through the filter's
// words: the next block is a multiply-high of the loaded word (random in a
// synthetic filter) mixed with the step, so each load waits for the one
// before and the chain never falls into a short cycle.
func floorSerial(words []uint64, blocks uint64) blockRunner {
	var x uint64
	return blockRunner{name: "floorSerial", run: func(_ [][20]byte, j, n int) (int, int) {
		for range n {
			blk, _ := bits.Mul64((x^uint64(j))*0x9e3779b97f4a7c15, blocks)
			x = words[blk*blockWords]
			j++
		}
		return 0, j
	}}
}
