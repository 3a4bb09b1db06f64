package breach

import (
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// appendLine renders exactly what hex.EncodeToString does, upper-cased,
// for every nibble value in every position and for random suffixes.
func TestAppendLine_MatchesHex(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var cases [][SuffixBytes]byte
	for v := range 256 {
		var s [SuffixBytes]byte
		for i := range s {
			s[i] = byte(v + i)
		}
		cases = append(cases, s)
	}
	for range 10000 {
		var s [SuffixBytes]byte
		for i := range s {
			s[i] = byte(r.Uint32())
		}
		cases = append(cases, s)
	}
	for i, s := range cases {
		s[0] &= 0x0f
		count := uint64(i) * 7919 % 100000
		got := string(appendLine([]byte("x"), s[:], count))
		want := "x" + strings.ToUpper(hex.EncodeToString(s[:]))[1:] + ":" + strconv.FormatUint(count, 10)
		if got != want {
			t.Fatalf("appendLine(%x, %d) = %q, want %q", s, count, got, want)
		}
	}
}

// The count is strconv.FormatUint's for every value up to 10^6 (each
// branch of the table formatting and its edges) and for large ones.
func TestAppendLine_CountMatchesStrconv(t *testing.T) {
	var s [SuffixBytes]byte
	head := string(appendLine(nil, s[:], 0))
	head = head[:len(head)-1]
	check := func(count uint64) {
		if got, want := string(appendLine(nil, s[:], count)), head+strconv.FormatUint(count, 10); got != want {
			t.Fatalf("appendLine(count %d) = %q, want %q", count, got, want)
		}
	}
	for c := uint64(0); c <= 1_000_000; c++ {
		check(c)
	}
	for _, c := range []uint64{1<<32 - 1, 1 << 32, 1<<63 - 1, 1<<64 - 1} {
		check(c)
	}
}
