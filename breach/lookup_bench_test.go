package breach

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// BenchmarkMemberProbe compares, for filter members, the prefetching probe
// (ContainsSHA1) with bloom/v3's Test on the same words, in alternating
// blocks of lookups so both see the same machine load; it reports both in
// ns per lookup. The words are random with half the bits set (design
// load) plus the members' bits, in anonymous memory advised for huge
// pages, sized as the filter for 10^8 and 2×10^9 hashes at FPR 0.001.
//
//	go test -run '^$' -bench MemberProbe -benchtime 4000000x ./breach
func BenchmarkMemberProbe(b *testing.B) {
	for _, n := range []uint{100_000_000, 2_000_000_000} {
		b.Run(map[uint]string{100_000_000: "100M", 2_000_000_000: "2000M"}[n], func(b *testing.B) {
			if n > 1e9 && testing.Short() {
				b.Skip("allocates 3.35 GiB")
			}
			m, k := bloom.EstimateParameters(n, 0.001)
			words, free, err := allocWords(uint64(m+63) / 64)
			if err != nil {
				b.Skip(err)
			}
			defer free()
			r := rand.New(rand.NewPCG(1, 2))
			for i := range words {
				words[i] = r.Uint64()
			}
			bf := bloom.FromWithM(words, m, k)
			members := make([][20]byte, 1<<16)
			for i := range members {
				for j := range members[i] {
					members[i][j] = byte(r.Uint32())
				}
				bf.Add(members[i][:])
			}
			p := newProbe(words, uint64(m), uint64(k))
			const block = 4096
			var tProbe, tBloom time.Duration
			var lookups int
			b.ResetTimer()
			for i := 0; i < b.N; i += 2 * block {
				base := r.IntN(len(members) - block)
				t0 := time.Now()
				for j := range block {
					if !p.contains(&members[base+j]) {
						b.Fatal("member not found")
					}
				}
				t1 := time.Now()
				for j := range block {
					if !bf.Test(members[(base+j+block/2)%len(members)][:]) {
						b.Fatal("member not found")
					}
				}
				tBloom += time.Since(t1)
				tProbe += t1.Sub(t0)
				lookups += block
			}
			b.ReportMetric(float64(tProbe.Nanoseconds())/float64(lookups), "probe-ns/member")
			b.ReportMetric(float64(tBloom.Nanoseconds())/float64(lookups), "bloomTest-ns/member")
		})
	}
}
