-- +goose Up
-- A request for an unknown address does the writes a known one does: it
-- stores a token hash (of a token nobody receives) with the same expiry
-- and eviction, and writes a sealed mail that is never sent and the
-- sealed audit line and webhook deliveries that are never recorded. Slots are a
-- hash of the address, so repeated requests for one unknown address evict
-- like a known user's do, and both tables stay bounded (256 slots times
-- the outstanding-token limit).
CREATE TABLE request_decoy_tokens (
    hash       bytea       PRIMARY KEY CHECK (length(hash) = 32),
    slot       integer     NOT NULL,
    seq        bigint      GENERATED ALWAYS AS IDENTITY,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX request_decoy_tokens_slot ON request_decoy_tokens (slot, created_at, seq);

ALTER TABLE request_decoys
    ADD COLUMN kind         text        NOT NULL DEFAULT '',
    ADD COLUMN message      bytea,
    ADD COLUMN created_at   timestamptz,
    ADD COLUMN not_after    timestamptz,
    ADD COLUMN next_attempt timestamptz,
    -- the audit lines and webhook deliveries a known address would
    -- record, rendered for the unknown one, sealed as one value
    ADD COLUMN effects      bytea;

-- +goose Down
ALTER TABLE request_decoys
    DROP COLUMN kind,
    DROP COLUMN message,
    DROP COLUMN created_at,
    DROP COLUMN not_after,
    DROP COLUMN next_attempt,
    DROP COLUMN effects;
DROP TABLE request_decoy_tokens;
