package clientip_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/safereset/safereset/clientip"
)

func TestParseTrustedProxies(t *testing.T) {
	valid := []struct{ in, want string }{
		{"", ""},
		{" , ", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"192.0.2.7", "192.0.2.7/32"},
		{" 10.0.0.0/8 , fd00::/8,2001:db8::1 ", "10.0.0.0/8,fd00::/8,2001:db8::1/128"},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"::ffff:192.0.2.9", "192.0.2.9/32"},
		{"10.0.0.0/8,", "10.0.0.0/8"},
	}
	for _, tc := range valid {
		t.Run(tc.in, func(t *testing.T) {
			p, err := clientip.ParseTrustedProxies(tc.in)
			if err != nil {
				t.Fatalf("ParseTrustedProxies(%q): %v", tc.in, err)
			}
			if got := p.String(); got != tc.want {
				t.Fatalf("ParseTrustedProxies(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	for _, in := range []string{
		"abc", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/8;192.0.2.1", "10.0.0.0/-1",
		"fe80::1%eth0", "::ffff:10.0.0.0/8", "192.0.2.1:80", "localhost", "10.0.0.0/8 192.0.2.0/24",
	} {
		t.Run("invalid/"+in, func(t *testing.T) {
			_, err := clientip.ParseTrustedProxies(in)
			if !errors.Is(err, clientip.ErrBadProxy) {
				t.Fatalf("ParseTrustedProxies(%q) err = %v, want ErrBadProxy", in, err)
			}
		})
	}
}

func TestProxies_ClientIP(t *testing.T) {
	trusted, err := clientip.ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48, 192.0.2.254")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		proxies   clientip.Proxies
		peer      string
		xff       []string
		forwarded []string
		want      string
	}{
		{name: "NoProxiesConfigured", peer: "203.0.113.5", xff: []string{"198.51.100.1"}, want: "203.0.113.5"},
		{name: "UntrustedPeerSpoofedXFF", proxies: trusted, peer: "203.0.113.5", xff: []string{"198.51.100.1, 10.0.0.1"}, want: "203.0.113.5"},
		{name: "UntrustedPeerSpoofedForwarded", proxies: trusted, peer: "203.0.113.5", forwarded: []string{"for=198.51.100.1"}, want: "203.0.113.5"},
		{name: "TrustedPeerNoHeaders", proxies: trusted, peer: "10.0.0.1", want: "10.0.0.1"},
		{name: "TrustedPeerClientProxy", proxies: trusted, peer: "10.0.0.1", xff: []string{"198.51.100.1, 10.0.0.2"}, want: "198.51.100.1"},
		{name: "TrustedPeerSingleHop", proxies: trusted, peer: "10.0.0.1", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "ClientSpoofsLeftOfRealHop", proxies: trusted, peer: "10.0.0.1", xff: []string{"1.1.1.1, 2.2.2.2, 198.51.100.1, 10.0.0.2"}, want: "198.51.100.1"},
		{name: "SeveralHeaderLines", proxies: trusted, peer: "10.0.0.1", xff: []string{"1.1.1.1", "198.51.100.1", "10.0.0.3, 192.0.2.254"}, want: "198.51.100.1"},
		{name: "AllTrustedLeftMost", proxies: trusted, peer: "10.0.0.1", xff: []string{"10.9.9.9, 10.0.0.2"}, want: "10.9.9.9"},
		{name: "EmptyEntriesSkipped", proxies: trusted, peer: "10.0.0.1", xff: []string{" , 198.51.100.1 ,, "}, want: "198.51.100.1"},
		{name: "EmptyXFFValue", proxies: trusted, peer: "10.0.0.1", xff: []string{""}, want: "10.0.0.1"},
		{name: "GarbageRightMost", proxies: trusted, peer: "10.0.0.1", xff: []string{"198.51.100.1, garbage"}, want: "10.0.0.1"},
		{name: "GarbageBehindTrustedHop", proxies: trusted, peer: "10.0.0.1", xff: []string{"198.51.100.1, <script>, 10.0.0.2"}, want: "10.0.0.2"},
		{name: "GarbageLeftOfClient", proxies: trusted, peer: "10.0.0.1", xff: []string{"garbage, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "XFFUnknown", proxies: trusted, peer: "10.0.0.1", xff: []string{"unknown"}, want: "10.0.0.1"},
		{name: "XFFZoned", proxies: trusted, peer: "10.0.0.1", xff: []string{"fe80::1%eth0"}, want: "10.0.0.1"},
		{name: "XFFWithPort", proxies: trusted, peer: "10.0.0.1", xff: []string{"198.51.100.1:4711"}, want: "198.51.100.1"},
		{name: "XFFBracketedV6Port", proxies: trusted, peer: "10.0.0.1", xff: []string{"[2001:db8::17]:4711"}, want: "2001:db8::17"},
		{name: "XFFBracketedV6", proxies: trusted, peer: "10.0.0.1", xff: []string{"[2001:db8::17]"}, want: "2001:db8::17"},
		{name: "XFFMapped", proxies: trusted, peer: "10.0.0.1", xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "MappedPeerTrusted", proxies: trusted, peer: "::ffff:10.0.0.1", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "MappedPeerUntrusted", proxies: trusted, peer: "::ffff:203.0.113.5", xff: []string{"198.51.100.1"}, want: "203.0.113.5"},
		{name: "MappedTrustedHop", proxies: trusted, peer: "10.0.0.1", xff: []string{"198.51.100.1, ::ffff:10.0.0.2"}, want: "198.51.100.1"},
		{name: "IPv6Proxy", proxies: trusted, peer: "2001:db8:ffff::1", xff: []string{"2001:db8:1::9, 2001:db8:ffff::2"}, want: "2001:db8:1::9"},

		{name: "Forwarded", proxies: trusted, peer: "10.0.0.1", forwarded: []string{"for=198.51.100.1;proto=https;by=10.0.0.1"}, want: "198.51.100.1"},
		{name: "ForwardedQuotedV6Port", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "ForwardedQuotedV6", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`For="[2001:db8:cafe::17]"`}, want: "2001:db8:cafe::17"},
		{name: "ForwardedQuotedV4Port", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for="198.51.100.1:80"`}, want: "198.51.100.1"},
		{name: "ForwardedChain", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for=1.1.1.1, for=198.51.100.1;proto=http, for="10.0.0.2"`}, want: "198.51.100.1"},
		{name: "ForwardedLines", proxies: trusted, peer: "10.0.0.1", forwarded: []string{"for=1.1.1.1", `for=198.51.100.1`, "for=10.0.0.2"}, want: "198.51.100.1"},
		{name: "ForwardedQuotedComma", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for=198.51.100.1;x="a,b;c", for=10.0.0.2`}, want: "198.51.100.1"},
		{name: "ForwardedUnknownStops", proxies: trusted, peer: "10.0.0.1", forwarded: []string{"for=198.51.100.1, for=unknown, for=10.0.0.2"}, want: "10.0.0.2"},
		{name: "ForwardedObfuscatedStops", proxies: trusted, peer: "10.0.0.1", forwarded: []string{"for=198.51.100.1, for=_hidden"}, want: "10.0.0.1"},
		{name: "ForwardedObfuscatedPort", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for="198.51.100.1:_p1"`}, want: "198.51.100.1"},
		{name: "ForwardedNoForStops", proxies: trusted, peer: "10.0.0.1", forwarded: []string{"for=198.51.100.1, proto=https"}, want: "10.0.0.1"},
		{name: "ForwardedBareV6Invalid", proxies: trusted, peer: "10.0.0.1", forwarded: []string{"for=2001:db8::1"}, want: "10.0.0.1"},
		{name: "ForwardedUnterminatedQuote", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for=198.51.100.1, for="[2001:db8::1]`}, want: "10.0.0.1"},
		{name: "ForwardedHalfQuoted", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for=198.51.100.1"`}, want: "10.0.0.1"},
		{name: "ForwardedBadPort", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for="198.51.100.1:http"`}, want: "10.0.0.1"},
		{name: "ForwardedRepeatedFor", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for=1.1.1.1;for=198.51.100.1`}, want: "10.0.0.1"},
		{name: "ForwardedMissingBracket", proxies: trusted, peer: "10.0.0.1", forwarded: []string{`for="[2001:db8::1"`}, want: "10.0.0.1"},
		{name: "ForwardedEmpty", proxies: trusted, peer: "10.0.0.1", forwarded: []string{""}, want: "10.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, values := clientip.XForwardedFor, tc.xff
			if tc.forwarded != nil {
				h, values = clientip.Forwarded, tc.forwarded
			}
			got := tc.proxies.ClientIP(net.ParseIP(tc.peer), h, values)
			if want := net.ParseIP(tc.want); !got.Equal(want) {
				t.Fatalf("ClientIP = %v, want %v", got, want)
			}
			if want := net.ParseIP(tc.want); want.To4() != nil && len(got) != net.IPv4len {
				t.Errorf("ClientIP returned %d-byte %v, want the 4-byte IPv4 form", len(got), got)
			}
		})
	}

	t.Run("NilPeer", func(t *testing.T) {
		if got := trusted.ClientIP(nil, clientip.XForwardedFor, []string{"198.51.100.1"}); got != nil {
			t.Fatalf("ClientIP(nil) = %v, want nil", got)
		}
	})
}

// TestResolver_OneHeader: only the configured header is read; the other is
// whatever the client sent and never moves its address.
func TestResolver_OneHeader(t *testing.T) {
	peer := net.ParseIP("10.0.0.1")
	both := map[string][]string{
		"X-Forwarded-For": {"198.51.100.1"},
		"Forwarded":       {"for=203.0.113.99"},
	}
	var (
		headers map[string][]string
		asked   []string
	)
	values := func(name string) []string { asked = append(asked, name); return headers[name] }
	for _, tc := range []struct {
		header, want string
		headers      map[string][]string
	}{
		{"x-forwarded-for", "198.51.100.1", both},
		{"forwarded", "203.0.113.99", both},
		// An empty configured header is no reason to believe the other.
		{"x-forwarded-for", "10.0.0.1", map[string][]string{"X-Forwarded-For": {" , "}, "Forwarded": {"for=203.0.113.99"}}},
		{"forwarded", "10.0.0.1", map[string][]string{"X-Forwarded-For": {"198.51.100.1"}}},
	} {
		r, err := clientip.NewResolver("10.0.0.0/8", tc.header)
		if err != nil {
			t.Fatal(err)
		}
		headers, asked = tc.headers, nil
		if got := r.ClientIP(peer, values); !got.Equal(net.ParseIP(tc.want)) {
			t.Errorf("%s with %v: %v, want %s", tc.header, tc.headers, got, tc.want)
		}
		if len(asked) != 1 || !strings.EqualFold(asked[0], tc.header) {
			t.Errorf("%s: read headers %v, want only %s", tc.header, asked, tc.header)
		}
	}
	if _, err := clientip.NewResolver("", "x-real-ip"); !errors.Is(err, clientip.ErrBadHeader) {
		t.Errorf("x-real-ip: %v, want ErrBadHeader", err)
	}
	// Nobody trusted: the peer, headers unread.
	headers, asked = both, nil
	if got := (clientip.Resolver{}).ClientIP(net.ParseIP("::ffff:203.0.113.5"), values); !got.Equal(net.ParseIP("203.0.113.5")) || len(asked) != 0 {
		t.Errorf("zero Resolver: %v, read %v", got, asked)
	}
}

func TestKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.1":         "198.51.100.1",
		"::ffff:198.51.100.1":  "198.51.100.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
	} {
		if got := clientip.Key(in); got != want {
			t.Errorf("Key(%q) = %q, want %q", in, got, want)
		}
	}
}
