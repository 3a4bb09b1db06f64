package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
)

// outboxAAD binds sealed values to their use.
var outboxAAD = []byte("safereset outbox message v1")

// EnqueueMail appends e to the outbox and returns its new ID. CreatedAt
// defaults to the clock and NextAttempt to CreatedAt. Like the bbolt
// store's, it serves tests, admin tooling and store copy.
func (db *DB) EnqueueMail(ctx context.Context, e safereset.OutboxEntry) (uint64, error) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = db.now()
	}
	if e.NextAttempt.IsZero() {
		e.NextAttempt = e.CreatedAt
	}
	sealed, err := db.sealMessage(e.Message)
	if err != nil {
		return 0, err
	}
	var hook []byte
	kind := string(e.Message.Kind)
	if e.Webhook != nil {
		kind = "webhook"
		raw, err := json.Marshal(e.Webhook)
		if err != nil {
			return 0, fmt.Errorf("postgres: enqueue mail: %w", err)
		}
		hook = db.outbox.Seal(raw, webhookAAD)
	}
	var id uint64
	err = db.pool.QueryRow(ctx, `INSERT INTO outbox (kind, message, created_at, not_after, attempts, next_attempt, last_error, webhook)
		VALUES ($7, $1, $2, $3, $4, $5, $6, $8) RETURNING id`,
		sealed, ts(e.CreatedAt), nullTime(e.NotAfter), e.Attempts, ts(e.NextAttempt), e.LastError, kind, hook).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("postgres: enqueue mail: %w", err)
	}
	return id, nil
}

// ClaimMail leases up to limit due entries, lowest ID first (see
// safereset.Store). Rows another replica is claiming right now are
// skipped, not waited for (FOR UPDATE SKIP LOCKED).
func (db *DB) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]safereset.OutboxEntry, error) {
	if limit < 1 {
		limit = 1 << 30
	}
	rows, err := db.pool.Query(ctx, `WITH due AS (
			SELECT id FROM outbox WHERE next_attempt <= $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
		)
		UPDATE outbox o SET claim = nextval('outbox_claims'), next_attempt = $3
		FROM due WHERE o.id = due.id
		RETURNING o.id, o.kind, o.message, o.created_at, o.not_after, o.attempts, o.next_attempt, o.last_error, o.claim, o.webhook`,
		ts(now), limit, ts(now.Add(lease)))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim mail: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (safereset.OutboxEntry, error) { return db.scanEntry(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: claim mail: %w", err)
	}
	sortByID(out)
	return out, nil
}

// NextMailAt returns the earliest NextAttempt, or zero when empty.
func (db *DB) NextMailAt(ctx context.Context) (time.Time, error) {
	var next *time.Time
	if err := db.pool.QueryRow(ctx, `SELECT min(next_attempt) FROM outbox`).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("postgres: next mail at: %w", err)
	}
	return fromNull(next), nil
}

// DeleteMail removes an entry held by claim.
func (db *DB) DeleteMail(ctx context.Context, id, claim uint64) error {
	err := db.fenced(ctx, id, claim, `DELETE FROM outbox WHERE id = $1 AND claim = $2`)
	if err != nil {
		return fmt.Errorf("postgres: delete mail: %w", err)
	}
	return nil
}

// RescheduleMail records a failed attempt of an entry held by claim and
// releases the claim.
func (db *DB) RescheduleMail(ctx context.Context, id, claim uint64, next time.Time, attempts int, lastErr string) error {
	err := db.fenced(ctx, id, claim, `UPDATE outbox SET next_attempt = $3, attempts = $4, last_error = $5, claim = 0
		WHERE id = $1 AND claim = $2`, ts(next), attempts, lastErr)
	if err != nil {
		return fmt.Errorf("postgres: reschedule mail: %w", err)
	}
	return nil
}

// fenced runs a statement on (id, claim) and tells a missing entry from
// one held by another claim when it changed nothing.
func (db *DB) fenced(ctx context.Context, id, claim uint64, sql string, args ...any) error {
	tag, err := db.pool.Exec(ctx, sql, append([]any{int64(id), int64(claim)}, args...)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1)`, int64(id)).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return safereset.ErrMailClaimLost
	}
	return safereset.ErrMailNotFound
}

// OutboxStats returns the queue depth and the oldest entry's CreatedAt.
func (db *DB) OutboxStats(ctx context.Context) (int, time.Time, error) {
	var (
		n      int
		oldest *time.Time
	)
	err := db.pool.QueryRow(ctx, `SELECT count(*), (SELECT created_at FROM outbox ORDER BY id LIMIT 1) FROM outbox`).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("postgres: outbox stats: %w", err)
	}
	return n, fromNull(oldest), nil
}

// sealMessage encrypts a mail for the outbox.
func (db *DB) sealMessage(m safereset.Message) ([]byte, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("postgres: encode mail: %w", err)
	}
	return db.outbox.Seal(raw, outboxAAD), nil
}

func (db *DB) scanEntry(r pgx.Row) (safereset.OutboxEntry, error) {
	var (
		e        safereset.OutboxEntry
		id       int64
		sealed   []byte
		notAfter *time.Time
		claim    int64
		hook     []byte
	)
	var kind string
	if err := r.Scan(&id, &kind, &sealed, &e.CreatedAt, &notAfter, &e.Attempts, &e.NextAttempt, &e.LastError, &claim, &hook); err != nil {
		return e, err
	}
	if hook != nil {
		raw, err := db.outbox.Open(hook, webhookAAD)
		if err != nil {
			return e, fmt.Errorf("outbox entry %d: %w", id, err)
		}
		e.Webhook = new(safereset.WebhookDelivery)
		if err := json.Unmarshal(raw, e.Webhook); err != nil {
			return e, fmt.Errorf("outbox entry %d: %w", id, errors.New("undecodable webhook"))
		}
	}
	// A message this key cannot open is handed over marked, so the
	// worker drops it instead of the whole outbox stalling on it.
	raw, err := db.outbox.Open(sealed, outboxAAD)
	if err != nil || json.Unmarshal(raw, &e.Message) != nil {
		e.Message, e.Unreadable = safereset.Message{Kind: safereset.MailKind(kind)}, true
	}
	e.ID, e.Claim = uint64(id), uint64(claim)
	e.CreatedAt, e.NotAfter, e.NextAttempt = e.CreatedAt.UTC(), fromNull(notAfter), e.NextAttempt.UTC()
	return e, nil
}

func sortByID(es []safereset.OutboxEntry) {
	slices.SortFunc(es, func(a, b safereset.OutboxEntry) int { return cmp.Compare(a.ID, b.ID) })
}
