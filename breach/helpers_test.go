package breach_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safereset/safereset/breach"
)

// genKeys returns n distinct pseudo-random 20-byte keys, the same for the
// same seed.
func genKeys(n int, seed uint64) [][20]byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	keys := make([][20]byte, n)
	for i := range keys {
		for j := 0; j < 20; j += 4 {
			v := r.Uint32()
			keys[i][j], keys[i][j+1], keys[i][j+2], keys[i][j+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		}
	}
	return keys
}

// hibpLines renders keys as "HEX:COUNT" lines with the given case and
// line ending.
func hibpLines(keys [][20]byte, upper bool, eol string) []byte {
	var b bytes.Buffer
	for i, k := range keys {
		h := hex.EncodeToString(k[:])
		if upper {
			h = strings.ToUpper(h)
		}
		fmt.Fprintf(&b, "%s:%d%s", h, i%1000+1, eol)
	}
	return b.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustBuild builds a filter into a temp dir and returns its path.
func mustBuild(t *testing.T, opts breach.BuildOptions) (string, breach.BuildReport) {
	t.Helper()
	if opts.Out == "" {
		opts.Out = filepath.Join(t.TempDir(), "f.bloom")
	}
	rep, err := breach.Build(context.Background(), opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return opts.Out, rep
}

func mustOpen(t testing.TB, path string) *breach.Filter {
	t.Helper()
	f, err := breach.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// hibpFile writes the SHA-1 lines of passwords to a file and returns it.
func hibpFile(t *testing.T, passwords ...string) string {
	t.Helper()
	var b bytes.Buffer
	for _, p := range passwords {
		fmt.Fprintf(&b, "%X:1\n", sha1.Sum([]byte(p)))
	}
	return writeFile(t, filepath.Join(t.TempDir(), "pw.txt"), b.Bytes())
}

func mustBuildErr(opts breach.BuildOptions) (breach.BuildReport, error) {
	return breach.Build(context.Background(), opts)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
