-- auth: users, sessions (with their refresh-token family), the access-token blacklist, and the
-- server side of OAuth logins in flight. Secrets are stored only as SHA-256 hashes (hex).

CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL DEFAULT '',
    name          text NOT NULL DEFAULT '',
    avatar_url    text NOT NULL DEFAULT '',
    provider      text NOT NULL,
    provider_id   text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    last_login_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
-- the identity a user was created with, unique among live users (a deleted user who logs in
-- again gets a new account).
CREATE UNIQUE INDEX users_provider_identity ON users (provider, provider_id) WHERE deleted_at IS NULL;
-- e-mail unique among live users; login links a verified e-mail through it (user_find_email).
CREATE UNIQUE INDEX users_live_email ON users (lower(email)) WHERE deleted_at IS NULL AND email <> '';

-- Every identity that logs in as a user: the one it was created with and those linked by a
-- verified e-mail. Login finds the user here by (provider, provider_id).
CREATE TABLE identities (
    provider    text NOT NULL,
    provider_id text NOT NULL,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_id)
);
CREATE INDEX identities_user ON identities (user_id);

CREATE TABLE sessions (
    id                 text PRIMARY KEY,
    user_id            text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_token_hash text NOT NULL UNIQUE,   -- the current refresh token (refresh_rotate)
    generation         integer NOT NULL DEFAULT 0,
    rotated_at         timestamptz NOT NULL DEFAULT now(),
    access_jti         text NOT NULL,          -- the live access token of the current pair
    access_iat         bigint NOT NULL,
    user_agent         text NOT NULL DEFAULT '',
    device_info        text NOT NULL DEFAULT '',
    ip_address         text NOT NULL DEFAULT '',
    last_activity_at   timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz,
    revoked_reason     text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- ListSessions: a user's live sessions, keyset (created_at, id); DeleteMe revokes them all.
CREATE INDEX sessions_user ON sessions (user_id, created_at, id);
-- cleanup: expired sessions.
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Every superseded refresh token of a session, so that any earlier member of the family is
-- recognised (reuse detection), not only the immediately previous one.
CREATE TABLE refresh_history (
    token_hash    text PRIMARY KEY,
    session_id    text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation    integer NOT NULL,            -- the generation this token was current at
    superseded_at timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_history_session ON refresh_history (session_id);

CREATE TABLE token_blacklist (
    id         text PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,           -- SHA-256 of the jti
    jti        text NOT NULL,                  -- published to verifiers (ListRevokedTokens)
    user_id    text NOT NULL,
    session_id text,
    reason     text NOT NULL,
    expires_at timestamptz NOT NULL,           -- the token's own exp
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- ListRevokedTokens (live rows, keyset by expires_at, id) and the cleanup.
CREATE INDEX token_blacklist_expires ON token_blacklist (expires_at, id);

-- OAuth logins in flight: the state is single-use and short-lived; only its hash is kept (the
-- PKCE verifier and the nonce are derived from it with the server secret, never stored).
CREATE TABLE login_states (
    state_hash   text PRIMARY KEY,
    provider     text NOT NULL,
    redirect_uri text NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_states_expires ON login_states (expires_at);
