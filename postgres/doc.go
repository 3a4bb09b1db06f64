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
//   - Backup is not supported: use pg_dump.
package postgres
