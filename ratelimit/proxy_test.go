package ratelimit_test

import (
	"net"
	"testing"

	"github.com/safereset/safereset/clientip"
	"github.com/safereset/safereset/ratelimit"
)

// An untrusted client that rotates X-Forwarded-For stays in its peer's bucket.
func TestProxies_RotatingXFFKeepsOneBucket(t *testing.T) {
	trusted, err := clientip.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := mustNewLimiter(t, ratelimit.Config{PerIP: "5-M"})
	peer := net.ParseIP("203.0.113.5")
	var last bool
	for i := 0; i < 6; i++ {
		spoof := net.IPv4(198, 51, 100, byte(i)).String()
		ip := trusted.ClientIP(peer, clientip.XForwardedFor, []string{spoof, "10.0.0." + spoof[len(spoof)-1:]})
		last = mustTake(t, l, "request", "ip", ip.String()).Reached
	}
	if !last {
		t.Fatal("6th request under a 5-M limit with rotating X-Forwarded-For was not limited")
	}

	// Behind the trusted proxy distinct clients get distinct buckets.
	proxy := net.ParseIP("10.0.0.1")
	for i := 0; i < 6; i++ {
		ip := trusted.ClientIP(proxy, clientip.XForwardedFor, []string{net.IPv4(198, 51, 100, byte(i)).String()})
		if mustTake(t, l, "request", "ip", ip.String()).Reached {
			t.Fatalf("client %v behind the proxy shares a bucket", ip)
		}
	}
}
