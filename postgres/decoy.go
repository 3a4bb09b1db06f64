package postgres

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
)

// decoySlots is how many request_decoys rows there are; it bounds the
// decoy tables and spreads their row locks.
const decoySlots = 256

// decoyRequest is RequestReset for an address with no account. Timing
// and load must not tell the two apart, so it does what the known path
// does, in one statement of the same shape: render and seal the mail,
// drop the slot's expired decoy tokens, evict the oldest live ones
// beyond maxOutstanding-1, store the token hash and write the sealed mail
// (an upsert of the slot's row rather than an outbox row, so nothing is
// ever sent and the table does not grow). A compose or seal failure is
// ignored: the caller answers an unknown address the same way whatever
// happens here.
func (db *DB) decoyRequest(ctx context.Context, tx pgx.Tx, emailKey string, tok safereset.ResetToken, now time.Time, maxOutstanding int,
	compose func(safereset.User) (safereset.Message, time.Time, error)) error {
	msg, notAfter, err := compose(safereset.User{Email: emailKey, EmailKey: emailKey})
	var sealed []byte
	if err == nil {
		sealed, _ = db.sealMessage(msg)
	}
	_, err = tx.Exec(ctx, `WITH expired AS (
			DELETE FROM request_decoy_tokens WHERE slot = $1 AND expires_at <= $2
		), evicted AS (
			DELETE FROM request_decoy_tokens WHERE hash IN (
				SELECT hash FROM request_decoy_tokens WHERE slot = $1 AND expires_at > $2
				ORDER BY created_at DESC, seq DESC OFFSET $3)
		), token AS (
			INSERT INTO request_decoy_tokens (hash, slot, created_at, expires_at) VALUES ($4, $1, $5, $6)
		)
		INSERT INTO request_decoys (slot, n, kind, message, created_at, not_after, next_attempt)
		VALUES ($1, 1, $9, $7, $2, $8, $2)
		ON CONFLICT (slot) DO UPDATE SET n = request_decoys.n + 1, kind = EXCLUDED.kind, message = EXCLUDED.message,
			created_at = EXCLUDED.created_at, not_after = EXCLUDED.not_after, next_attempt = EXCLUDED.next_attempt`,
		decoySlot(emailKey), now, maxOutstanding-1, tok.Hash[:], ts(tok.CreatedAt), ts(tok.ExpiresAt), sealed, nullTime(notAfter), string(msg.Kind))
	return err
}

// decoySlot maps an address to its request_decoys row.
func decoySlot(emailKey string) int {
	h := fnv.New32a()
	h.Write([]byte(emailKey))
	return int(h.Sum32() % decoySlots)
}
