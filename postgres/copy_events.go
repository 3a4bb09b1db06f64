package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/safereset/safereset"
)

// exportAudit reads the whole trail, oldest first, for store copy.
func exportAudit(ctx context.Context, tx pgx.Tx) ([]safereset.AuditEntry, error) {
	rows, _ := tx.Query(ctx, `SELECT id, time, action, actor, request_id, client_addr, user_id, target FROM audit ORDER BY id`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (safereset.AuditEntry, error) { return scanAudit(r) })
}

// scanAudit reads one audit row in the column order of exportAudit.
func scanAudit(r pgx.Row) (safereset.AuditEntry, error) {
	var (
		a          safereset.AuditEntry
		id, userID int64
		action     string
		at         time.Time
	)
	err := r.Scan(&id, &at, &action, &a.Actor, &a.RequestID, &a.ClientAddr, &userID, &a.Target)
	a.ID, a.UserID, a.Action, a.Time = uint64(id), uint64(userID), safereset.AuditAction(action), at.UTC()
	return a, err
}

// importAudit writes a copied trail into an empty one in tx, keeping every
// ID; new entries continue after the highest.
func importAudit(ctx context.Context, tx pgx.Tx, entries []safereset.AuditEntry) error {
	// Writers of new lines wait until the copy has committed.
	if _, err := tx.Exec(ctx, `LOCK TABLE audit IN EXCLUSIVE MODE`); err != nil {
		return err
	}
	var used bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit)`).Scan(&used); err != nil {
		return err
	}
	if used {
		return ErrNotEmpty
	}
	var (
		ids, users                       []int64
		times                            []time.Time
		action, actor, req, addr, target []string
	)
	for _, a := range entries {
		if a.ID == 0 {
			return errors.New("audit entry without an id")
		}
		ids, users, times = append(ids, int64(a.ID)), append(users, int64(a.UserID)), append(times, ts(a.Time))
		action, actor, req = append(action, string(a.Action)), append(actor, a.Actor), append(req, a.RequestID)
		addr, target = append(addr, a.ClientAddr), append(target, a.Target)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit (id, time, action, actor, request_id, client_addr, user_id, target) OVERRIDING SYSTEM VALUE
		SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[])`,
		ids, times, action, actor, req, addr, users, target); err != nil {
		return err
	}
	// Marked called (setval's default), so the highest copied id counts as
	// drawn: the reader's horizon (auditHorizon) includes it at once.
	_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('audit', 'id'), max(id)) FROM audit HAVING max(id) IS NOT NULL`)
	return err
}

// copiedWebhook returns the kind column and the sealed webhook of a copied
// outbox entry: a queued webhook delivery stays one, with its webhook-id,
// instead of arriving as an empty mail.
func (db *DB) copiedWebhook(e safereset.OutboxEntry) (string, []byte, error) {
	if e.Webhook == nil {
		return string(e.Message.Kind), nil, nil
	}
	raw, err := json.Marshal(e.Webhook)
	if err != nil {
		return "", nil, fmt.Errorf("encode webhook: %w", err)
	}
	return "webhook", db.outbox.Seal(raw, webhookAAD), nil
}
