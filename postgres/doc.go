// Package postgres keeps safereset's users, reset tokens, API keys, mail
// outbox, shared keys and rate-limit counters in PostgreSQL, so several
// replicas can share them; it is the only package that imports pgx.
//
// Tokens and API keys are stored only as SHA-256 hashes, and queued mails
// (which hold tokens) are sealed with the outbox key. Every change is one
// transaction.
//
// # Caveats
//
//   - Lock order: every transaction that touches a user's tokens locks the
//     user's row first (SELECT … FOR UPDATE). Taking token rows first would
//     deadlock (40P01) against one that started from the user.
//   - RequestReset for an unknown address commits one small write (a decoy
//     counter spread over 256 rows) so both cases cost the same round trips
//     and a WAL flush; the gap left is rendering and sealing the mail.
//   - A request for a locked account ("this wasn't me") goes down the
//     unknown address's decoy path; its lock token is stored and evicted
//     in request_decoy_lock_tokens, bounded like the decoy reset tokens.
//     LockAccount deletes the lock token under the user's row lock, so one
//     token locks once across replicas.
//   - Times are stored with microsecond precision (timestamptz); values
//     are truncated to the microsecond on the way in.
//   - Expiry decisions use the times callers pass (each replica's clock):
//     keep replica clocks in sync (NTP); a skew of a few seconds is small
//     against token lifetimes and outbox leases.
//   - The outbox key lives in the database unless Options.OutboxKey is
//     given (from a file every replica reads): with the key in the
//     database, a dump of it can open queued mails.
//   - Open refuses a schema older or newer than this build knows
//     (ErrSchema); Migrate applies the embedded migrations.
//   - Audit ids come from a sequence, drawn in the order transactions ask
//     for them, which is not the order they commit. So a reader never
//     pages past an id a transaction still in flight may fill: writers
//     hold a shared advisory lock (key 0x7361666561756474) from drawing an
//     id to commit, and AuditLog first takes it exclusively for an
//     instant to learn the highest id whose transaction has ended, and
//     returns nothing above it. A reader thus waits for the audit writes
//     in flight (milliseconds) and delays new ones as long; a writer pays
//     one shared lock, no round trip. Filtering rows by xmin against the
//     reader's snapshot would not do: xids are taken at a transaction's
//     first write, ids later, so the two orders differ too.
//   - Backup is not supported: use pg_dump.
package postgres
