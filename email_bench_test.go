package safereset_test

import (
	"testing"

	"github.com/safereset/safereset"
)

// BenchmarkValidEmail: the check every reset request makes, on a plain
// address (answered without net/mail) and on ones that take the full
// net/mail path (a UTF-8 local part, and an invalid domain).
//
//	go test . -run '^$' -bench ValidEmail -benchmem -count 6
func BenchmarkValidEmail(b *testing.B) {
	for _, bc := range []struct {
		name, addr string
		want       bool
	}{
		{"Plain", "jane.doe@example.com", true},
		{"UTF8Local", "jäne@example.com", true},
		{"BadDomain", "jane@example.com{x}", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if safereset.ValidEmail(bc.addr) != bc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}
