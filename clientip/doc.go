// Package clientip decides which address a request comes from: the
// connection's peer, or, behind a trusted reverse proxy, the client that
// proxy reports in its one configured forwarding header. Key folds an
// address to what one client is counted under (IPv6 per /64), for the rate
// limiter and anything else that counts per client.
//
// # Caveats
//
//   - Only the configured header is read. A proxy that sets X-Forwarded-For
//     passes a client's Forwarded header through untouched (and the other
//     way round), so reading both would let a client choose its address.
//   - IPv6 clients are folded per /64 by Key, never by ClientIP: logs show
//     the full address.
package clientip
