-- +goose Up
-- The language of a user's mails; '' uses the service's --default-locale.
ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN locale;
