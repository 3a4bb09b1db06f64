-- +goose Up
-- The audit trail (see safereset.AuditEntry): no secret is ever written
-- here, so the columns are plain. IDs follow insertion; a reader pages by
-- them.
CREATE TABLE audit (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time        timestamptz NOT NULL,
    action      text        NOT NULL,
    actor       text        NOT NULL,
    request_id  text        NOT NULL DEFAULT '',
    client_addr text        NOT NULL DEFAULT '',
    user_id     bigint      NOT NULL DEFAULT 0,
    target      text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_time ON audit (time);

-- A webhook delivery queued beside the mails: the sealed JSON of
-- safereset.WebhookDelivery (it holds the user's address). message then
-- holds a sealed empty mail.
ALTER TABLE outbox ADD COLUMN webhook bytea;

-- +goose Down
ALTER TABLE outbox DROP COLUMN webhook;
DROP TABLE audit;
