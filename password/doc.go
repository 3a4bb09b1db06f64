// Package password normalizes, measures and hashes user passwords with
// argon2id, and verifies stored argon2id or bcrypt PHC strings.
//
// # Caveats
//
// Every hash or verify takes a slot of a semaphore sized by the caller
// (--hash-concurrency), so at most that many argon2id computations hold
// their memory at once: a flood of requests queues instead of exhausting
// memory. Waiting for a slot honours the caller's context.
package password
