-- 006_phone.sql — phone number sign-in (issue 18 item 3; docs/auth.md, "Phone sign-in").
-- One row per code sent: the number, the client address (/64 for IPv6) that asked, and only a
-- keyed hash of the code (HMAC with tokens.secret: a dump of this table cannot be searched for
-- the 10^6 codes without the secret). A row stays until it leaves phone.window, so the per-number
-- and per-address limits are counted here, on every replica alike; cleanup purges older rows.
CREATE TABLE phone_challenges (
    id text PRIMARY KEY,
    phone text NOT NULL,
    source text NOT NULL,
    code_hash text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at timestamptz
);
CREATE INDEX phone_challenges_phone ON phone_challenges (phone, created_at);
CREATE INDEX phone_challenges_source ON phone_challenges (source, created_at);
