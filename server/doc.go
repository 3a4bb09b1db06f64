// Package server is safereset's HTTP surface on Fiber v2: the public reset
// API with its auth middleware and error envelope, and the ops listener with
// health, readiness, metrics and the admin API.
//
// # Caveats
//
// Fiber reuses the memory behind values read from *fiber.Ctx after a
// handler returns; everything that outlives a handler is copied.
// Bodies above the hard cap of 64 KiB are refused by the HTTP layer before
// authentication (fasthttp reads and allocates bodies before any handler
// runs); bodies between 16 KiB and 64 KiB are refused with ER413 after
// authentication, as SPEC §2.2 orders.
package server
