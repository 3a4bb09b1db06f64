-- +goose Up
-- PHC strings of a user's previous passwords, newest first (never a
-- password); ResetPassword keeps at most --password-history minus one.
ALTER TABLE users ADD COLUMN password_history text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE users DROP COLUMN password_history;
