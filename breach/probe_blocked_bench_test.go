package breach

import (
	"runtime"
	"testing"
	"time"
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
//	go test -run '^$' -bench ProbeBlocked -count 5 -timeout 60m ./breach
func BenchmarkProbeBlocked(b *testing.B) {
	for _, size := range []struct {
		name   string
		n      uint
		v2only bool
	}{{"100M", 100_000_000, false}, {"2000M", 2_000_000_000, false}, {"2000M-v2only", 2_000_000_000, true}} {
		b.Run(size.name, func(b *testing.B) {
			if size.n > 1e9 && testing.Short() {
				b.Skip("writes 7 GiB of files")
			}
			members := randomKeys(1<<16, 21)
			nonMembers := randomKeys(1<<20, 22)
			type variant struct {
				name string
				fn   func(key *[20]byte) bool
			}
			var fns []variant
			if !size.v2only {
				v1 := syntheticFilterVersion(b, size.n, members, FormatV1)
				b.Logf("%s: v1 %d MiB k=%d", size.name, len(v1.data)>>20, v1.hdr.K)
				fns = append(fns,
					// What a server check calls: the probe inside the guard.
					variant{"v1Lookup", func(k *[20]byte) bool { found, _ := v1.Lookup(*k); return found }},
					// The bare probe, without the guard's fstat.
					variant{"v1Contains", func(k *[20]byte) bool { return v1.ContainsSHA1(*k) }})
			}
			v2 := syntheticFilterVersion(b, size.n, members, FormatV2)
			b.Logf("%s: v2 %d MiB k=%d; mapped with 2 MiB pages: %s", size.name, len(v2.data)>>20, v2.hdr.K, filePmdMapped())
			fns = append(fns,
				variant{"v2Lookup", func(k *[20]byte) bool { found, _ := v2.Lookup(*k); return found }},
				variant{"v2Contains", func(k *[20]byte) bool { return v2.ContainsSHA1(*k) }})
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
					mask := len(set.keys) - 1
					hits := 0
					j := 0
					for i := 0; i < b.N; {
						v := (i / block) % len(fns)
						n := min(block, b.N-i)
						fn := fns[v].fn
						t0, c0 := time.Now(), threadCPU()
						for range n {
							if fn(&set.keys[j&mask]) {
								hits++
							}
							j++
						}
						spent[v] += time.Since(t0)
						oncpu[v] += threadCPU() - c0
						done[v] += n
						i += n
					}
					if set.want && hits != b.N {
						b.Fatalf("%d of %d members found", hits, b.N)
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
