// Package store keeps safereset's users, reset tokens, API keys and mail
// outbox in one bbolt file; it is the only package that imports bbolt.
//
// Reset tokens and API keys are stored only as SHA-256 hashes. Every change
// is one bbolt write transaction, so it is atomic and, unless
// Options.NoSync is set, on disk before the method returns.
//
// # Caveats
//
//   - Single writer: bbolt serialises write transactions, and each commit
//     costs an fsync (milliseconds on most disks). Throughput of changing
//     calls (RequestReset, ResetPassword, outbox updates) is bounded by the
//     disk's fsync rate, not the CPU.
//   - RequestReset may call compose a second time inside the write
//     transaction (when the user changed since its read); compose must be
//     quick and must not call the store.
//   - RequestReset for an unknown address renders and seals a mail it
//     never queues and writes placeholder keys (put and deleted in the
//     same transaction), so it does the work a known address does; what is
//     left is reading and evicting the user's outstanding tokens, under a
//     microsecond (see BenchmarkRequestReset).
//   - RequestReset calls compose outside the write transaction, after a
//     read transaction found the user, so concurrent requests render in
//     parallel; the shared transaction only seals and stores.
//   - One process: Open takes an exclusive file lock and fails with
//     ErrLocked after Options.Timeout when another process (or another DB
//     in this process) holds it. Use Backup for copies of a live file.
//   - The outbox message of every entry (address, subject, bodies with the
//     token) is sealed with XChaCha20-Poly1305 under Options.OutboxKey
//     before bbolt sees it, so no page of the file, free or live, and no
//     Backup holds it in clear; only the scheduling fields (kind, times,
//     attempts, last error) are readable. Without the key (a file restored
//     without its key file) entries come back Unreadable and are dropped.
//     ResetPassword and DeleteUser do not remove queued mails; the tokens
//     in them are already dead by then.
//   - RequestReset and the outbox updates use group commit: calls that
//     arrive while a transaction commits share the next one and its fsync.
//     Each still returns only after its own change is on disk.
//   - Lookups by email use the exact EmailKey (safereset.NormalizeEmail:
//     ASCII case folding only), so look-alike Unicode addresses are
//     different accounts.
//   - Lock tokens ("this wasn't me") are kept as SHA-256 hashes under the
//     user's ID in their own bucket, at most safereset.MaxLockTokens per
//     user. A request for a locked account runs the unknown address's
//     decoy path, including a placeholder lock token. The bucket is
//     created on Open without a schema change: an older build ignores it
//     (and so the locks).
//   - Open refuses a file with a different schema version (ErrSchema);
//     there is no automatic migration yet.
package store
