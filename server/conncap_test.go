package server

import (
	"net"
	"testing"
)

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:2"},
		{"[2001:db8:1:2::1%lo]:1", "[2001:db8:1:2::9]:2"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1:2"},
	} {
		a, _ := net.ResolveTCPAddr("tcp", tc.a)
		b, _ := net.ResolveTCPAddr("tcp", tc.b)
		if clientKey(a) != clientKey(b) {
			t.Errorf("%s and %s count apart: %v %v", tc.a, tc.b, clientKey(a), clientKey(b))
		}
	}
	for _, tc := range []struct{ a, b string }{
		{"[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1"},
		{"192.0.2.1:1", "192.0.2.2:1"},
	} {
		a, _ := net.ResolveTCPAddr("tcp", tc.a)
		b, _ := net.ResolveTCPAddr("tcp", tc.b)
		if clientKey(a) == clientKey(b) {
			t.Errorf("%s and %s count together", tc.a, tc.b)
		}
	}
}
