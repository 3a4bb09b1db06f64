package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/safereset/safereset"
)

// webhookAAD binds sealed webhook deliveries to their use.
var webhookAAD = []byte("safereset outbox webhook v1")

// effectsCTEs returns data-modifying CTEs ("name AS (...)", comma-joined,
// no leading comma) that write e, with their parameters numbered from
// first. Folded into the statement of the change, they cost no extra
// round trip, so a known address costs what an unknown one does.
func (db *DB) effectsCTEs(e safereset.Effects, first int) (string, []any, error) {
	now := ts(db.now())
	var (
		aTime                                 []time.Time
		aAction, aActor, aReq, aAddr, aTarget []string
		aUser                                 []int64
		oMsg, oHook                           [][]byte
		oCreated, oNext                       []time.Time
		oNotAfter                             []*time.Time
	)
	for _, a := range e.Audit {
		if a.Time.IsZero() {
			a.Time = now
		}
		aTime = append(aTime, ts(a.Time))
		aAction, aActor, aReq = append(aAction, string(a.Action)), append(aActor, a.Actor), append(aReq, a.RequestID)
		aAddr, aTarget, aUser = append(aAddr, a.ClientAddr), append(aTarget, a.Target), append(aUser, int64(a.UserID))
	}
	for _, o := range e.Outbox {
		if o.CreatedAt.IsZero() {
			o.CreatedAt = now
		}
		if o.NextAttempt.IsZero() {
			o.NextAttempt = o.CreatedAt
		}
		msg, err := db.sealMessage(o.Message)
		if err != nil {
			return "", nil, err
		}
		var hook []byte
		if o.Webhook != nil {
			raw, err := json.Marshal(o.Webhook)
			if err != nil {
				return "", nil, fmt.Errorf("encode webhook: %w", err)
			}
			hook = db.outbox.Seal(raw, webhookAAD)
		}
		var na *time.Time
		if !o.NotAfter.IsZero() {
			t := ts(o.NotAfter)
			na = &t
		}
		oMsg, oHook = append(oMsg, msg), append(oHook, hook)
		oCreated, oNext, oNotAfter = append(oCreated, ts(o.CreatedAt)), append(oNext, ts(o.NextAttempt)), append(oNotAfter, na)
	}
	p := func(i int) string { return fmt.Sprintf("$%d", first+i) }
	// The join with effects_audit_order takes the shared audit order lock
	// before the insert draws the first id (see auditHorizon); with no
	// audit line the join yields nothing and no lock is taken.
	sql := `effects_audit_order AS MATERIALIZED (
			SELECT pg_advisory_xact_lock_shared(` + strconv.FormatInt(auditOrderLock, 10) + `)
		), effects_audit AS (
			INSERT INTO audit (time, action, actor, request_id, client_addr, user_id, target)
			SELECT u.* FROM unnest(` + p(0) + `::timestamptz[], ` + p(1) + `::text[], ` + p(2) + `::text[], ` + p(3) + `::text[], ` + p(4) + `::text[], ` + p(5) + `::bigint[], ` + p(6) + `::text[]) AS u, effects_audit_order
		), effects_outbox AS (
			INSERT INTO outbox (kind, message, webhook, created_at, next_attempt, not_after)
			SELECT 'webhook', * FROM unnest(` + p(7) + `::bytea[], ` + p(8) + `::bytea[], ` + p(9) + `::timestamptz[], ` + p(10) + `::timestamptz[], ` + p(11) + `::timestamptz[])
		)`
	return sql, []any{aTime, aAction, aActor, aReq, aAddr, aUser, aTarget, oMsg, oHook, oCreated, oNext, oNotAfter}, nil
}

// renderEffects runs each fn for u and collects what they return. Audit
// entries without a user get u's ID.
func renderEffects(u safereset.User, fns []safereset.EffectsFunc) (safereset.Effects, error) {
	var all safereset.Effects
	for _, fn := range fns {
		if fn == nil {
			continue
		}
		e, err := fn(u)
		if err != nil {
			return safereset.Effects{}, fmt.Errorf("render effects: %w", err)
		}
		for i := range e.Audit {
			if e.Audit[i].UserID == 0 {
				e.Audit[i].UserID = u.ID
			}
		}
		all.Add(e)
	}
	return all, nil
}

func joinEffects(es []safereset.Effects) safereset.Effects {
	var all safereset.Effects
	for _, e := range es {
		all.Add(e)
	}
	return all
}

// writeEffects writes e in tx in one statement.
func (db *DB) writeEffects(ctx context.Context, tx pgx.Tx, e safereset.Effects) error {
	if len(e.Audit) == 0 && len(e.Outbox) == 0 {
		return nil
	}
	ctes, args, err := db.effectsCTEs(e, 1)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `WITH `+ctes+` SELECT 1`, args...)
	return err
}

// writeUserEffects renders effects for u and writes them in tx: the last
// step of every transaction that changes one user.
func (db *DB) writeUserEffects(ctx context.Context, tx pgx.Tx, u safereset.User, effects []safereset.EffectsFunc) error {
	e, err := renderEffects(u, effects)
	if err != nil {
		return err
	}
	return db.writeEffects(ctx, tx, e)
}

// Record implements safereset.Store.
func (db *DB) Record(ctx context.Context, e safereset.Effects) error {
	if err := db.inTx(ctx, func(tx pgx.Tx) error { return db.writeEffects(ctx, tx, e) }); err != nil {
		return fmt.Errorf("postgres: record: %w", err)
	}
	return nil
}

// AuditLog implements safereset.Store. A Limit below 1 means 100.
func (db *DB) AuditLog(ctx context.Context, q safereset.AuditQuery) ([]safereset.AuditEntry, error) {
	if q.Limit < 1 {
		q.Limit = 100
	}
	var since any
	if !q.Since.IsZero() {
		since = ts(q.Since)
	}
	horizon, err := db.auditHorizon(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit log: %w", err)
	}
	rows, err := db.pool.Query(ctx, `SELECT id, time, action, actor, request_id, client_addr, user_id, target FROM audit
		WHERE id > $1 AND id <= $4 AND ($2::timestamptz IS NULL OR time >= $2) ORDER BY id LIMIT $3`, int64(q.After), since, q.Limit, horizon)
	if err != nil {
		return nil, fmt.Errorf("postgres: audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (safereset.AuditEntry, error) {
		var (
			a          safereset.AuditEntry
			id, userID int64
			action     string
		)
		err := r.Scan(&id, &a.Time, &action, &a.Actor, &a.RequestID, &a.ClientAddr, &userID, &a.Target)
		a.ID, a.UserID, a.Action, a.Time = uint64(id), uint64(userID), safereset.AuditAction(action), a.Time.UTC()
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: audit log: %w", err)
	}
	return out, nil
}

// PruneAudit implements safereset.Store.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM audit WHERE time < $1`, ts(before))
	if err != nil {
		return 0, fmt.Errorf("postgres: prune audit: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// auditOrderLock is the advisory lock key of the audit trail's order
// ("safeaudt" in ASCII). Writers hold it shared from before they draw an
// audit id until they commit; a reader takes it exclusively for an
// instant to learn which ids are final.
const auditOrderLock int64 = 0x7361666561756474

// auditHorizon returns the highest audit id whose transaction has ended:
// no entry at or below it can still appear. Ids are drawn from a
// sequence in the order transactions ask, not the order they commit, so
// without this a reader that paged past id 11 would never see id 10
// committed a moment later. Taking the lock exclusively waits for the
// writers holding ids drawn so far and, while held, no writer can draw
// one, so the sequence's last value is the horizon.
//
// The wait is bounded (lock_timeout) and retried: a reader queued for the
// lock makes new writers queue behind it, and one of them may hold a row
// a writer in flight waits for; giving way ends that quickly.
func (db *DB) auditHorizon(ctx context.Context) (int64, error) {
	for {
		var h int64
		err := db.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '200ms'`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditOrderLock); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('audit', 'id')::regclass), 0)`).Scan(&h)
		})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" && ctx.Err() == nil { // lock_not_available
			continue
		}
		return h, err
	}
}
