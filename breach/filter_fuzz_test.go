package breach_test

import (
	"context"
	"crypto/sha1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safereset/safereset/breach"
)

// tinyFilter builds a real filter file holding a few passwords and returns
// its bytes.
func tinyFilter(f *testing.F) []byte {
	f.Helper()
	dir := f.TempDir()
	out := filepath.Join(dir, "tiny.bloom")
	_, err := breach.Build(context.Background(), breach.BuildOptions{Out: out, Plain: true, Expected: 16,
		Stdin: strings.NewReader("password1\niloveyou\n123456\n"), Inputs: []string{"-"}, Source: "fuzz seed"})
	if err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzOpenBytes: a truncated, foreign or corrupt filter file is refused
// with an error or, when its header holds together, opens into a filter
// whose checks and checksum verification do not panic. A file that opens
// and verifies still finds the passwords it was built from only if it is
// the original.
func FuzzOpenBytes(f *testing.F) {
	good := tinyFilter(f)
	f.Add(good)
	f.Add(good[:breach.HeaderSize])             // header, no words
	f.Add(good[:breach.HeaderSize-1])           // cut inside the header
	f.Add(good[:len(good)-8])                   // one word short
	f.Add(append(append([]byte{}, good...), 0)) // trailing byte
	flipped := append([]byte{}, good...)
	flipped[20] ^= 0xff // a header field
	f.Add(flipped)
	f.Add([]byte("SRBLOOM\x00"))
	f.Add([]byte{})
	sum := sha1.Sum([]byte("password1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, err := breach.OpenBytes(append([]byte(nil), b...))
		if err != nil {
			if err.Error() == "" || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error %q is not one clear line", err)
			}
			return
		}
		defer flt.Close()
		h := flt.Header()
		if h.FileSize() != uint64(len(b)) {
			t.Fatalf("opened a file of %d bytes whose header says %d", len(b), h.FileSize())
		}
		flt.ContainsSHA1(sum)
		if flt.Verify() == nil && string(b) == string(good) && !flt.ContainsSHA1(sum) {
			t.Fatal("the original filter lost a member")
		}
	})
}
