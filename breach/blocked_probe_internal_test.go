package breach

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// blockedVariants are the v2 probes BenchmarkProbeBlocked compares; every one
// must give containsBlocked's answer for every key.
func blockedVariants(p *probe) map[string]func(*[20]byte) bool {
	return map[string]func(*[20]byte) bool{
		"prefetchEarly": p.blockedPrefetchEarly,
		"prefetchAnd":   p.blockedPrefetchAnd,
		"loadFirst":     p.blockedLoadFirst,
		"offsetsAnd":    p.blockedOffsetsAnd,
	}
}

// The branch-free v2 probe finds every member of a built filter and
// answers exactly as the early-exit probe with the prefetch (and the other
// variants) do over random non-members, at a k from the SHA-1 bits alone
// and at a k that needs the murmur hashes too. It is also held to the
// plain definition: all k positions set.
func TestContainsBlocked_SameAnswers(t *testing.T) {
	for _, c := range []struct {
		n   int
		fpr float64
	}{{100_000, 0.001}, {30_000, 0.00001}, {20_000, 0.2}} {
		t.Run(fmt.Sprintf("n=%d/p=%g", c.n, c.fpr), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.n), 5))
			keys := make([][20]byte, c.n)
			var in bytes.Buffer
			for i := range keys {
				for j := range keys[i] {
					keys[i][j] = byte(r.Uint32())
				}
				fmt.Fprintf(&in, "%X:%d\n", keys[i], i%7+1)
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "in.txt")
			if err := os.WriteFile(src, in.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "f.bloom")
			rep, err := Build(context.Background(), BuildOptions{Out: out, Inputs: []string{src}, FPR: c.fpr, Version: FormatV2})
			if err != nil {
				t.Fatal(err)
			}
			f, err := Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p := &f.probe
			if p.blocks == 0 || p.k != rep.Header.K {
				t.Fatalf("probe blocks %d k %d, header %+v", p.blocks, p.k, rep.Header)
			}
			variants := blockedVariants(p)
			allSet := func(key *[20]byte) bool {
				var pos [maxK]uint64
				p.positions(key, &pos)
				for _, q := range pos[:p.k] {
					if p.words[q>>6]&(1<<(q&63)) == 0 {
						return false
					}
				}
				return true
			}
			for i := range keys {
				if !p.containsBlocked(&keys[i]) || !f.ContainsSHA1(keys[i]) {
					t.Fatalf("member %d not found", i)
				}
				for name, fn := range variants {
					if !fn(&keys[i]) {
						t.Fatalf("%s: member %d not found", name, i)
					}
				}
			}
			hits := 0
			probes := 500_000
			for range probes {
				var k [20]byte
				for j := range k {
					k[j] = byte(r.Uint32())
				}
				got := p.containsBlocked(&k)
				if got != allSet(&k) {
					t.Fatalf("key %X: containsBlocked %v, all bits set %v", k, got, !got)
				}
				for name, fn := range variants {
					if fn(&k) != got {
						t.Fatalf("key %X: %s says %v, containsBlocked %v", k, name, !got, got)
					}
				}
				if got {
					hits++
				}
			}
			// Hits must occur (else "identical" could mean "all false"), at
			// about the target rate.
			t.Logf("k=%d: %d of %d non-members hit", p.k, hits, probes)
			if c.fpr*float64(probes) >= 10 && hits == 0 {
				t.Fatal("no non-member hit at all")
			}
		})
	}
}
