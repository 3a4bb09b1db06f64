// Package webhook signs and delivers safereset's events the Standard
// Webhooks way (https://www.standardwebhooks.com): each POST carries
// webhook-id, webhook-timestamp and webhook-signature headers, the
// signature being "v1," and the base64 HMAC-SHA256 of
// "id.timestamp.body" under a "whsec_" secret.
//
// Events are not sent from the request that raises them: a Publisher turns
// an event into one outbox entry per configured receiver, written in the
// transaction of the change, and the outbox worker hands each entry to a
// Deliverer. The webhook-id is fixed when the event is queued, so every
// retry carries the same one and a receiver can deduplicate.
//
// # Caveats
//
// Delivery is at least once: a crash between a receiver's 2xx and the
// outbox update sends the event again with the same webhook-id.
// webhook-timestamp is the time of each attempt (receivers refuse old
// ones), so the signature differs between retries while the id does not.
// Receivers are only the operator's --webhook-url values; a private
// address there is allowed because the operator chose it. Redirects are
// never followed.
package webhook
