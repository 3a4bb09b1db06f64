package breach_test

import (
	"fmt"
	"testing"

	"github.com/safereset/safereset/breach"
)

// TestBuild_ExactCountNotOversized: input that is counted exactly sizes the
// filter for exactly that many hashes, so the report must not call it
// oversized; sizing it for fewer must.
func TestBuild_ExactCountNotOversized(t *testing.T) {
	for _, fpr := range []float64{0.01, 0.001, 0.0001, 1e-6} {
		for _, n := range []int{1, 2, 3, 7, 10, 100, 1000, 4321} {
			t.Run(fmt.Sprintf("fpr=%g/n=%d", fpr, n), func(t *testing.T) {
				in := writeFile(t, t.TempDir()+"/in.txt", hibpLines(genKeys(n, uint64(n)), true, "\n"))
				_, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{in}, FPR: fpr})
				if rep.Header.N != uint64(n) {
					t.Fatalf("N = %d, want %d", rep.Header.N, n)
				}
				if rep.Oversized {
					t.Fatalf("exactly counted input reported oversized (m=%d k=%d n=%d)", rep.Header.M, rep.Header.K, n)
				}
			})
		}
	}
	in := writeFile(t, t.TempDir()+"/in.txt", hibpLines(genKeys(1000, 9), true, "\n"))
	if _, rep := mustBuild(t, breach.BuildOptions{Inputs: []string{in}, FPR: 0.001, Expected: 900}); !rep.Oversized {
		t.Fatal("1000 hashes in a filter sized for 900 not reported oversized")
	}
}
