// Package ratelimit limits password-reset requests per email address and per
// client IP with fixed windows on github.com/ulule/limiter/v3 (SPEC §7).
//
// A Limiter implements safereset.Limiter. Address buckets are keyed by
// EmailKey, an HMAC (secret from LoadOrCreateSecret) of an aggressively
// folded address, so no plaintext address is ever stored and case, width and
// white-space variants of one address share a bucket. Whether an account
// exists plays no part, so a limit looks the same for known and unknown
// addresses. IP buckets are keyed by clientip.Key of the address the server
// resolved (clientip.Resolver).
//
// # Caveats
//
//   - The default memory store lives in one process. Several replicas each
//     count on their own, so the effective limit is multiplied by the number
//     of replicas; give them a shared Store (ulule's Redis driver behind the
//     same adapter as NewMemoryStore) instead.
//   - Counters survive until ulule's cleaner drops expired windows (every 30
//     seconds by default), so memory grows with the number of distinct keys
//     seen within one window plus that interval: about 250 bytes per address
//     (BenchmarkTake_MemoryPerKey). A flood of random addresses from one IP
//     is bounded by the per-IP limit; one from many IPs is not, until its
//     windows expire (an hour by default for addresses).
//   - Windows are fixed, not sliding: a client can send up to twice the
//     limit across a window boundary.
//   - ulule's memory store reads the wall clock itself; there is no injected
//     clock. Tests make windows pass with one-second periods ("2-S") and wait
//     until the returned Reset, which is never before the real end of the
//     window (ulule rounds it down to a second; Take rounds it up).
//   - IPv6 clients are counted per /64 (clientip.Key), because one
//     subscriber usually holds a whole /64 and could otherwise rotate
//     addresses freely.
//   - The per-email fold (NFKC, full case folding, no white space or format
//     characters) merges more than safereset.NormalizeEmail, which decides
//     which account an address reaches. That is on purpose: merging buckets
//     only limits more.
package ratelimit
