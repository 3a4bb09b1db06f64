-- +goose Up
-- "This wasn't me": a locked account refuses new reset tokens until
-- locked_until (NULL: not locked).
ALTER TABLE users ADD COLUMN locked_until timestamptz NULL;

-- Lock tokens, by SHA-256 only (the token exists only in the mail). They
-- outlive the reset token they came with, at most MaxLockTokens per user.
CREATE TABLE lock_tokens (
    hash       bytea       PRIMARY KEY CHECK (length(hash) = 32),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX lock_tokens_user ON lock_tokens (user_id, created_at);

-- The lock token a request for an unknown or locked address carries is
-- stored and evicted here, per decoy slot, as a known address's is in
-- lock_tokens, so both cases do the same writes.
CREATE TABLE request_decoy_lock_tokens (
    hash       bytea       PRIMARY KEY CHECK (length(hash) = 32),
    slot       integer     NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX request_decoy_lock_tokens_slot ON request_decoy_lock_tokens (slot, created_at);

-- +goose Down
DROP TABLE request_decoy_lock_tokens;
DROP TABLE lock_tokens;
ALTER TABLE users DROP COLUMN locked_until;
