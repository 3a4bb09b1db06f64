package breach

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Exact store benchmarks. Run with:
//
//	go test -run '^$' -bench 'Exact' -count 3 ./breach
//
// "Dense" puts about 950 hashes under each prefix it uses, the density of
// the full corpus (about a billion hashes over 2^20 prefixes), in 4096
// prefixes; "Sparse" is 10^7 hashes spread over every prefix (about 10 a
// prefix). Stores are written through the real writer (spill files, sort,
// index) without the filter.

// syntheticExact writes an exact store of n random keys whose prefix is
// below prefixes, and returns its path and the keys.
func syntheticExact(tb testing.TB, n int, prefixes uint32) (string, [][20]byte) {
	tb.Helper()
	dir := tb.TempDir()
	out := filepath.Join(dir, "s.exact")
	spill, err := newExactSpill(out)
	if err != nil {
		tb.Fatal(err)
	}
	defer spill.remove()
	r := rand.New(rand.NewPCG(uint64(n), uint64(prefixes)))
	keys := make([][20]byte, n)
	counts := make([]uint64, n)
	for i := range keys {
		binary.BigEndian.PutUint64(keys[i][0:], r.Uint64())
		binary.BigEndian.PutUint64(keys[i][8:], r.Uint64())
		binary.BigEndian.PutUint32(keys[i][16:], r.Uint32())
		// Keep the key's prefix below prefixes: rewrite its top 20 bits.
		p := r.Uint32N(prefixes)
		keys[i][0], keys[i][1] = byte(p>>12), byte(p>>4)
		keys[i][2] = keys[i][2]&0x0f | byte(p&0x0f)<<4
		counts[i] = uint64(i%1000 + 1)
	}
	l := spill.local()
	for i := 0; i < n; i += 32 {
		j := min(i+32, n)
		l.add(keys[i:j], counts[i:j])
	}
	if err := l.done(); err != nil {
		tb.Fatal(err)
	}
	if _, err := spill.writeExact(out, nil, "synthetic", time.Unix(0, 0)); err != nil {
		tb.Fatal(err)
	}
	return out, keys
}

// onCPU locks the benchmark to its thread and returns a func that reports
// the thread's CPU time per op as well as the wall time: on a shared
// machine the wall time also counts the waits for a core.
func onCPU(b *testing.B) func() {
	runtime.LockOSThread()
	c0 := threadCPU()
	return func() {
		b.ReportMetric(float64((threadCPU()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		runtime.UnlockOSThread()
	}
}

func majorFaults() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Majflt
}

func BenchmarkExactCount(b *testing.B) {
	for _, tc := range []struct {
		name     string
		n        int
		prefixes uint32
	}{{"Dense", 4096 * 950, 4096}, {"Sparse10M", 10_000_000, Prefixes}} {
		b.Run(tc.name, func(b *testing.B) {
			path, keys := syntheticExact(b, tc.n, tc.prefixes)
			e, err := OpenExact(path)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			if err := e.Verify(); err != nil { // pages it all in
				b.Fatal(err)
			}
			b.Logf("%d hashes, %.2f bytes per hash", e.hdr.N, float64(e.hdr.FileSize())/float64(e.hdr.N))
			b.Run("WarmMember", func(b *testing.B) {
				defer onCPU(b)()
				r := rand.New(rand.NewPCG(1, 1))
				for b.Loop() {
					if c, err := e.Count(keys[r.IntN(len(keys))]); err != nil || c == 0 {
						b.Fatalf("member: %d %v", c, err)
					}
				}
			})
			b.Run("WarmNonMember", func(b *testing.B) {
				defer onCPU(b)()
				r := rand.New(rand.NewPCG(2, 2))
				for b.Loop() {
					k := keys[r.IntN(len(keys))]
					k[19] ^= 0x5a // same prefix, another hash
					if c, err := e.Count(k); err != nil || c != 0 {
						b.Fatalf("non-member: %d %v", c, err)
					}
				}
			})
			// Cold: the store dropped from the page cache and reopened, its
			// index read in (as Open's read-ahead does in the background),
			// its records not; reports the disk reads (major faults) of one
			// lookup. Mapped pages survive FADV_DONTNEED, so each round
			// unmaps first. Slow per op: run with -benchtime 200x.
			b.Run("ColdMember", func(b *testing.B) {
				e.Close() // its mapping would keep every page cached
				fh, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer fh.Close()
				r := rand.New(rand.NewPCG(3, 3))
				var faults int64
				for b.Loop() {
					b.StopTimer()
					if err := unix.Fadvise(int(fh.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
						b.Fatal(err)
					}
					c, err := OpenExact(path)
					if err != nil {
						b.Fatal(err)
					}
					var sink byte
					for i := 0; i < len(c.index); i += 4096 {
						sink ^= c.index[i]
					}
					_ = sink
					k := keys[r.IntN(len(keys))]
					before := majorFaults()
					b.StartTimer()
					if n, err := c.Count(k); err != nil || n == 0 {
						b.Fatalf("member: %d %v", n, err)
					}
					b.StopTimer()
					faults += majorFaults() - before
					c.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(faults)/float64(b.N), "diskreads/op")
			})
		})
	}
}

func BenchmarkExactRange(b *testing.B) {
	path, _ := syntheticExact(b, 4096*950, 4096)
	e, err := OpenExact(path)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if err := e.Verify(); err != nil { // pages it all in: warm, as a serving store is
		b.Fatal(err)
	}
	var buf []byte
	for _, pad := range []int{0, 800} {
		name := "Plain"
		if pad > 0 {
			name = "Padded"
		}
		b.Run(name, func(b *testing.B) {
			defer onCPU(b)()
			r := rand.New(rand.NewPCG(4, 4))
			for b.Loop() {
				var err error
				buf, _, err = e.AppendRange(buf[:0], r.Uint32N(4096), pad)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
