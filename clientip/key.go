package clientip

import "net/netip"

// Key returns the text one client is counted under: IPv4 (also when mapped
// into IPv6) as dotted quad, IPv6 as its /64 prefix, the block one
// subscriber usually holds, so rotating addresses inside it does not give
// a new bucket. Text that is not an IP is used as it is.
func Key(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // cannot fail for an IPv6 address
	return p.String()
}
