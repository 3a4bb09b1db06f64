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
//   - RequestReset calls its compose function inside the write
//     transaction; it must be quick and must not call the store.
//   - RequestReset for an unknown address writes placeholder keys (put and
//     deleted in the same transaction) so its commit costs about what a
//     known address's does; the remaining gap is a few microseconds of CPU
//     for rendering and encoding the mail (see BenchmarkRequestReset).
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
//   - Open refuses a file with a different schema version (ErrSchema);
//     there is no automatic migration yet.
package store
