// Package server is safereset's HTTP surface on Fiber v2: the public reset
// API with its auth middleware and error envelope, and the ops listener with
// health, readiness, metrics and the admin API.
//
// # Caveats
//
// Fiber reuses the memory behind values read from *fiber.Ctx after a
// handler returns; everything that outlives a handler is copied.
// Bodies above the hard cap of 1 MiB are refused by the HTTP layer before
// authentication; bodies between 16 KiB and 1 MiB are refused with ER413
// after authentication, as SPEC §2.2 orders.
package server
