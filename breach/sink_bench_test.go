package breach

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// BenchmarkInsert measures only the insertion of in-memory keys into a
// full-size filter (2.0e9 hashes at FPR 0.001, 3.35 GiB): the fast path
// with both cores at several region sizes, and bloom's Add one at a time.
// Run with -benchtime=1x; it allocates 3.35 GiB.
func BenchmarkInsert(b *testing.B) {
	if testing.Short() {
		b.Skip("allocates a 3.35 GiB filter")
	}
	m, k := bloom.EstimateParameters(2_000_000_000, 0.001)
	const nkeys = 20_000_000
	keys := make([][20]byte, nkeys)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range keys {
		for j := range 20 {
			keys[i][j] = byte(r.Uint32())
		}
	}
	words, free, err := allocWords((uint64(m) + 63) / 64)
	if err != nil {
		b.Fatal(err)
	}
	defer free()
	for i := range words { // fault the pages in once, outside the timings
		words[i] = 0
	}
	for _, shift := range []uint{23, 24, 25} {
		b.Run(fmt.Sprintf("Fast2Cores/region=%dB", (1<<shift)/8), func(b *testing.B) {
			l := newLayoutShift(uint64(m), uint64(k), shift)
			const workers = 2
			budget := uint64(len(words)) * 8 / 5
			entries := budget / 4 / workers
			quota := uint64(float64(entries) / float64(k) * 0.85)
			sinks := []*regionSink{newRegionSink(l, words, entries), newRegionSink(l, words, entries)}
			b.ResetTimer()
			var addT, applyT time.Duration
			for range b.N {
				var wg sync.WaitGroup
				per := nkeys / workers
				for start := 0; start < per; start += int(quota) {
					t0 := time.Now()
					for w := range workers {
						lo, hi := w*per+start, min(w*per+start+int(quota), (w+1)*per)
						wg.Go(func() {
							sinks[w].addBatch(keys[lo:hi])
						})
					}
					wg.Wait()
					t1 := time.Now()
					addT += t1.Sub(t0)
					for w := range workers {
						lo, hi := l.blocks*uint64(w)/workers, l.blocks*uint64(w+1)/workers
						wg.Go(func() { applyBlocks(sinks, lo, hi) })
					}
					wg.Wait()
					applyT += time.Since(t1)
				}
			}
			b.ReportMetric(float64(nkeys)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mhashes/s")
			b.ReportMetric(addT.Seconds()/float64(b.N), "add-s")
			b.ReportMetric(applyT.Seconds()/float64(b.N), "apply-s")
		})
	}
	b.Run("OneAtATime", func(b *testing.B) {
		bf := bloom.FromWithM(words, m, k)
		n := nkeys / 4
		b.ResetTimer()
		for range b.N {
			for i := range n {
				bf.Add(keys[i][:])
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mhashes/s")
	})
}
