-- Accounts and refresh-token sessions of the auth service. Runs with search_path = auth.

CREATE TABLE users (
    user_id        UUID PRIMARY KEY,
    email          TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    display_name   TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL DEFAULT 'customer'
                       CONSTRAINT users_role_known CHECK (role IN ('customer', 'organizer', 'admin')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_email_unique UNIQUE (email)
);

-- Refresh tokens are stored only as SHA-256 hashes. Each login starts a family; every refresh
-- marks the presented token used and issues its successor in the same family. Presenting a used
-- token again is reuse: the whole family is revoked.
CREATE TABLE refresh_tokens (
    token_id     UUID PRIMARY KEY,
    family_id    UUID NOT NULL,
    user_id      UUID NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL CONSTRAINT refresh_tokens_hash_unique UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
