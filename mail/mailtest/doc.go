// Package mailtest runs a scriptable SMTP server on loopback for tests: it
// records the messages it accepts and can be told, message by message, to
// accept, delay, answer 4xx/5xx or drop the connection, to require AUTH
// PLAIN, to offer STARTTLS or speak implicit TLS with a self-signed
// certificate, and to stop and restart on the same port.
//
// # Caveats
//
//   - It is for tests only: it accepts any sender and recipient, keeps every
//     message in memory and allows AUTH without TLS.
//   - Helpers that take a testing.TB (Start, WaitFor, Restart) call t.Fatal
//     and must be called from the test's own goroutine.
package mailtest
