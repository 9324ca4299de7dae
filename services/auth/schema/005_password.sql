-- 005_password.sql — e-mail and password sign-in (issue 18 item 2; docs/auth.md, "E-mail and
-- password"). A user gets a password only through an address proven by a mailed token: a
-- sign-up creates no user until its verification token comes back, so an unverified address
-- never holds users.email (nobody can squat an address, or be linked to through it).

-- The password of a user: an argon2id hash in libsodium's crypto_pwhash_str form (the PHC
-- string carries its own salt and parameters, so a change of password.ops_limit/mem_limit
-- re-hashes at the next login).
CREATE TABLE passwords (
    user_id    text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The mails sent: verification and reset tokens (single-use, expiring; only the SHA-256 of
-- the token is kept), and the notices that carry no token ('exists', 'no_account'). Every mail
-- is a row, so the per-address mail interval is one query over it; rows go at their expiry.
CREATE TABLE password_tokens (
    token_hash    text PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('verify', 'reset', 'exists', 'no_account')),
    email         text NOT NULL,                -- as given; matched lower-cased
    user_id       text REFERENCES users (id) ON DELETE CASCADE,  -- reset: whose password
    password_hash text NOT NULL DEFAULT '',     -- verify: the password chosen at sign-up
    name          text NOT NULL DEFAULT '',     -- verify: the name given at sign-up
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- password.mail_interval: the last mail to an address.
CREATE INDEX password_tokens_email ON password_tokens (lower(email), created_at);
-- cleanup.
CREATE INDEX password_tokens_expires ON password_tokens (expires_at);
