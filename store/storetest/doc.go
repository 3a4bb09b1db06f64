// Package storetest is the conformance suite every safereset.Store engine
// runs: bbolt in store/ and PostgreSQL in postgres/ call Run with a
// function that opens a fresh, empty store.
//
// Cases that depend on one engine's mechanics (bbolt's file lock, Check,
// commit counting) stay in that engine's own tests.
package storetest
