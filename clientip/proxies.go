package clientip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrBadProxy is returned (wrapped, with the offending entry) by
// ParseTrustedProxies for an entry that is neither a CIDR nor an IP.
var ErrBadProxy = errors.New("invalid trusted proxy")

// Proxies is the set of reverse proxies whose forwarding headers are
// believed. The zero Proxies trusts nobody.
type Proxies struct {
	nets []netip.Prefix
}

// ParseTrustedProxies reads a comma-separated list of CIDRs ("10.0.0.0/8",
// "fd00::/8") and bare IPs ("192.0.2.7"). White space around entries and
// empty entries are ignored; "" trusts nobody. IPv4-mapped IPv6 entries
// are read as IPv4.
func ParseTrustedProxies(s string) (Proxies, error) {
	var p Proxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pre, err := parseProxy(f)
		if err != nil {
			return Proxies{}, fmt.Errorf("clientip: trusted proxy %q: %w: want a CIDR such as 10.0.0.0/8 or an IP address", f, ErrBadProxy)
		}
		p.nets = append(p.nets, pre)
	}
	return p, nil
}

func parseProxy(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errors.New("not an IP")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pre, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := pre.Addr(); a.Is4In6() {
		if pre.Bits() < 96 {
			return netip.Prefix{}, errors.New("mapped IPv4 prefix shorter than /96")
		}
		pre = netip.PrefixFrom(a.Unmap(), pre.Bits()-96)
	}
	return pre.Masked(), nil
}

// String lists the trusted networks, comma-separated.
func (p Proxies) String() string {
	s := make([]string, len(p.nets))
	for i, n := range p.nets {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

func (p Proxies) contains(a netip.Addr) bool {
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Header is the forwarding header a trusted proxy reports the client in.
// Only that one is read: the other is whatever the client sent.
type Header string

// The forwarding headers.
const (
	XForwardedFor Header = "X-Forwarded-For"
	Forwarded     Header = "Forwarded" // RFC 7239
)

// ErrBadHeader is returned by ParseHeader for a name that is neither header.
var ErrBadHeader = errors.New("forwarding header must be x-forwarded-for or forwarded")

// ParseHeader reads a header name, case-insensitively.
func ParseHeader(s string) (Header, error) {
	switch {
	case strings.EqualFold(s, string(XForwardedFor)):
		return XForwardedFor, nil
	case strings.EqualFold(s, string(Forwarded)):
		return Forwarded, nil
	}
	return "", ErrBadHeader
}

// ClientIP returns the client's address. peer is the connection's remote
// address; values are all values of header h, in the order they arrived.
//
// When peer is not a trusted proxy, the values are ignored and peer is the
// client. Otherwise the hops (X-Forwarded-For entries, or the for=
// parameters of Forwarded) are walked from right to left, and the first hop
// that is not a trusted proxy is the client. When every hop is trusted, the
// left-most is. An entry that is not an address (garbage, "unknown", an
// obfuscated identifier) ends the walk: the nearest valid hop before it (or
// peer) is the client, because nothing left of it can be believed.
// IPv4-mapped IPv6 addresses come back as IPv4.
func (p Proxies) ClientIP(peer net.IP, h Header, values []string) net.IP {
	pa, ok := netip.AddrFromSlice(peer)
	if !ok {
		return peer
	}
	pa = pa.Unmap()
	if !p.contains(pa) {
		return net.IP(pa.AsSlice())
	}
	var hops []string
	parse := parseXFF
	for _, v := range values {
		if h == Forwarded {
			hops = appendForwarded(hops, v)
		} else {
			hops = appendList(hops, v)
		}
	}
	if h == Forwarded {
		parse = parseForwardedFor
	}
	client := pa
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parse(hops[i])
		if !ok {
			break
		}
		client = a
		if !p.contains(a) {
			break
		}
	}
	return net.IP(client.AsSlice())
}

// Resolver finds the client address of a request: the trusted proxies and
// the one header they report it in. The zero Resolver trusts nobody.
type Resolver struct {
	Proxies Proxies
	Header  Header
}

// NewResolver parses the trusted proxies (ParseTrustedProxies) and the
// header name (ParseHeader).
func NewResolver(trusted, header string) (Resolver, error) {
	p, err := ParseTrustedProxies(trusted)
	if err != nil {
		return Resolver{}, err
	}
	h, err := ParseHeader(header)
	if err != nil {
		return Resolver{}, err
	}
	return Resolver{Proxies: p, Header: h}, nil
}

// ClientIP returns the client address of a connection from peer; values
// reads every value of a request header and is called only when peer is a
// trusted proxy.
func (r Resolver) ClientIP(peer net.IP, values func(name string) []string) net.IP {
	if len(r.Proxies.nets) == 0 {
		return r.Proxies.ClientIP(peer, r.Header, nil)
	}
	h := r.Header
	if h == "" {
		h = XForwardedFor
	}
	return r.Proxies.ClientIP(peer, h, values(string(h)))
}

// appendList appends the non-empty, trimmed elements of a comma list.
func appendList(dst []string, v string) []string {
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			dst = append(dst, e)
		}
	}
	return dst
}

// parseXFF reads one X-Forwarded-For hop: an IP, optionally with a port
// ("192.0.2.1:4711", "[2001:db8::1]:4711") or in brackets.
func parseXFF(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return normal(a)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normal(ap.Addr())
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return normal(a)
		}
	}
	return netip.Addr{}, false
}

// normal unmaps IPv4-in-IPv6 and refuses zoned addresses, which no proxy
// has a reason to send.
func normal(a netip.Addr) (netip.Addr, bool) {
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// appendForwarded appends, for each element of one Forwarded header value,
// the value of its for= parameter ("" when it has none, which stops the
// walk there). Commas and semicolons inside quoted strings are honoured.
func appendForwarded(dst []string, v string) []string {
	var (
		forVal  string
		elem    []string
		inQuote bool
		escaped bool
		start   int
	)
	flushPair := func(pair string) {
		elem = append(elem, pair)
	}
	flushElem := func() {
		forVal = ""
		seen := false
		for _, pair := range elem {
			name, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "for") {
				continue
			}
			if seen { // a repeated for= is malformed
				forVal = ""
				break
			}
			seen = true
			forVal = unquote(strings.TrimSpace(val))
		}
		empty := true
		for _, pair := range elem {
			if strings.TrimSpace(pair) != "" {
				empty = false
			}
		}
		if !empty {
			dst = append(dst, forVal)
		}
		elem = elem[:0]
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == ';':
			flushPair(v[start:i])
			start = i + 1
		case !inQuote && c == ',':
			flushPair(v[start:i])
			flushElem()
			start = i + 1
		}
	}
	if inQuote { // unterminated quote: the whole tail is garbage
		flushPair("for=")
	} else {
		flushPair(v[start:])
	}
	flushElem()
	return dst
}

// unquote returns the content of an RFC 7230 quoted-string, or s itself
// when it is a token. A half-quoted value comes back as "" (invalid).
func unquote(s string) string {
	if !strings.HasPrefix(s, `"`) {
		if strings.Contains(s, `"`) {
			return ""
		}
		return s
	}
	if len(s) < 2 || !strings.HasSuffix(s, `"`) {
		return ""
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseForwardedFor reads a for= value: "192.0.2.60", "192.0.2.60:4711",
// "[2001:db8::17]" or "[2001:db8::17]:4711". "unknown", obfuscated
// identifiers ("_hidden") and bare IPv6 (which RFC 7239 requires in
// brackets) are not addresses.
func parseForwardedFor(s string) (netip.Addr, bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		if rest := s[end+1:]; rest != "" && !validPort(rest) {
			return netip.Addr{}, false
		}
		return normal(a)
	}
	host, port, hasPort := strings.Cut(s, ":")
	if hasPort && !validPort(":"+port) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// validPort accepts ":" followed by a port number or an obfuscated port
// ("_abc"), as RFC 7239 section 6 allows.
func validPort(s string) bool {
	if len(s) < 2 || s[0] != ':' {
		return false
	}
	s = s[1:]
	if s[0] == '_' {
		for _, c := range []byte(s[1:]) {
			if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
		return true
	}
	if len(s) > 5 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
