package postgres

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
)

// decoyEffectsAAD binds a decoy's sealed effects to their use.
var decoyEffectsAAD = []byte("safereset request decoy effects v1")

// decoySlots is how many request_decoys rows there are; it bounds the
// decoy tables and spreads their row locks.
const decoySlots = 256

// decoyRequest is RequestReset for an address with no account, or one
// whose account is locked ("this wasn't me"). Timing
// and load must not tell the two apart, so it does what the known path
// does, in one statement of the same shape: render and seal the mail,
// drop the slot's expired decoy tokens, evict the oldest live ones
// beyond maxOutstanding-1, store the token hash and write the sealed mail
// and effects (an upsert of the slot's row rather than outbox and audit
// rows, so nothing is ever sent or recorded and the table does not grow).
// A compose, effects or seal failure is ignored: the caller answers an
// unknown address the same way whatever happens here.
func (db *DB) decoyRequest(ctx context.Context, tx pgx.Tx, emailKey string, tok safereset.ResetToken, now time.Time, maxOutstanding int,
	compose func(safereset.User) (safereset.Message, time.Time, error), effects []safereset.EffectsFunc) error {
	decoyUser := safereset.User{Email: emailKey, EmailKey: emailKey}
	msg, notAfter, err := compose(decoyUser)
	var sealed []byte
	if err == nil {
		sealed, _ = db.sealMessage(msg)
	}
	// The audit line and webhook deliveries a known address records,
	// rendered and sealed for this one, kept with the slot's mail.
	var sealedEffects []byte
	if e, err := renderEffects(decoyUser, effects); err == nil && (len(e.Audit) > 0 || len(e.Outbox) > 0) {
		if raw, err := json.Marshal(e); err == nil {
			sealedEffects = db.outbox.Seal(raw, decoyEffectsAAD)
		}
	}
	// A lock token the mail would have carried is stored and evicted in
	// the slot's own table, in the shape storeLockTokenSQL has.
	lockCTE, lockArgs := "", []any(nil)
	if tok.Lock.Hash != [32]byte{} {
		lockCTE = `lock_expired AS (
			DELETE FROM request_decoy_lock_tokens WHERE slot = $1 AND expires_at <= $2
		), lock_evicted AS (
			DELETE FROM request_decoy_lock_tokens WHERE hash IN (
				SELECT hash FROM request_decoy_lock_tokens WHERE slot = $1 AND expires_at > $2
				ORDER BY created_at DESC, hash DESC OFFSET $14)
		), lock_token AS (
			INSERT INTO request_decoy_lock_tokens (hash, slot, created_at, expires_at) VALUES ($11, $1, $12, $13)
			ON CONFLICT (hash) DO NOTHING
		), `
		lockArgs = lockTokenArgs(tok.Lock)
	}
	_, err = tx.Exec(ctx, `WITH `+lockCTE+`expired AS (
			DELETE FROM request_decoy_tokens WHERE slot = $1 AND expires_at <= $2
		), evicted AS (
			DELETE FROM request_decoy_tokens WHERE hash IN (
				SELECT hash FROM request_decoy_tokens WHERE slot = $1 AND expires_at > $2
				ORDER BY created_at DESC, seq DESC OFFSET $3)
		), token AS (
			INSERT INTO request_decoy_tokens (hash, slot, created_at, expires_at) VALUES ($4, $1, $5, $6)
		)
		INSERT INTO request_decoys (slot, n, kind, message, created_at, not_after, next_attempt, effects)
		VALUES ($1, 1, $9, $7, $2, $8, $2, $10)
		ON CONFLICT (slot) DO UPDATE SET n = request_decoys.n + 1, kind = EXCLUDED.kind, message = EXCLUDED.message,
			created_at = EXCLUDED.created_at, not_after = EXCLUDED.not_after, next_attempt = EXCLUDED.next_attempt,
			effects = EXCLUDED.effects`,
		append([]any{decoySlot(emailKey), now, maxOutstanding - 1, tok.Hash[:], ts(tok.CreatedAt), ts(tok.ExpiresAt), sealed, nullTime(notAfter), string(msg.Kind), sealedEffects}, lockArgs...)...)
	return err
}

// decoySlot maps an address to its request_decoys row.
func decoySlot(emailKey string) int {
	h := fnv.New32a()
	h.Write([]byte(emailKey))
	return int(h.Sum32() % decoySlots)
}
