-- 003_event_positions.sql — where auth's subscriber is in catalog's event sequence (it records
-- app.tokens_revoked as a revoked sid, docs/auth.md "Revocation"): updated in the same
-- transaction as the reaction, so a restart resumes exactly after the last event handled.
CREATE TABLE event_positions (
    source text PRIMARY KEY,
    seq bigint NOT NULL
);
